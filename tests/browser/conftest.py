"""One headless Chromium per session, offline, and each preview built once per session.

Without Chromium the browser tests are skipped with the command that installs it, except in CI
(the CI variable is set), where that is a failure: CI installs it (.ci/run) and must run them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Plain asserts in the helper modules explain themselves as they do in test modules.
pytest.register_assert_rewrite("browser.checks", "browser.harness")

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from browser import harness, projects  # noqa: E402

_ARTIFACTS = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    missing = harness.chromium_missing()
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests, but {missing}", pytrace=False)
    pytest.skip(f"browser tests not run: {missing}")


@pytest.fixture(scope="session")
def browser(chromium_ready: None) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = harness.launch(playwright)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def strict(browser: Browser) -> Iterator[harness.Offline]:
    """Pages as a reviewer opens them: the page's own CSP applies."""
    offline = harness.offline_context(browser)
    yield offline
    offline.context.close()


@pytest.fixture(scope="session")
def csp_off(browser: Browser) -> Iterator[harness.Offline]:
    """Pages with their CSP ignored: only escaping stands between catalog text and the DOM."""
    offline = harness.offline_context(browser, bypass_csp=True)
    yield offline
    offline.context.close()


@pytest.fixture
def open_page() -> Iterator[harness.OpenPage]:
    """Opens a file in a context; the pages are closed after the test."""
    pages: list[Page] = []

    def opener(offline: harness.Offline, path: Path) -> Page:
        page = offline.open(path)
        pages.append(page)
        return page

    yield opener
    for page in pages:
        page.close()


@pytest.fixture(scope="module", autouse=True)
def _pages_per_module() -> Iterator[None]:
    """Pages opened with `Offline.cached` are shared by a module's tests, then closed."""
    yield
    harness.close_cached_pages()


@pytest.fixture(scope="session")
def artifacts(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $IPASS_TEST_ARTIFACTS, else a folder of this run's temporary tree."""
    chosen = os.environ.get("IPASS_TEST_ARTIFACTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("preview-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    request.config.stash[_ARTIFACTS] = folder
    return folder


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    folder = terminalreporter.config.stash.get(_ARTIFACTS, None)
    if folder is not None:
        terminalreporter.write_line(f"preview screenshots: {folder}")


@pytest.fixture(scope="session")
def example_site(chromium_ready: None, tmp_path_factory: pytest.TempPathFactory) -> projects.Site:
    root = tmp_path_factory.mktemp("example")
    project = projects.example_project(root / "project")
    return projects.build(project, root / "preview")


@pytest.fixture(scope="session")
def hostile_site(chromium_ready: None, tmp_path_factory: pytest.TempPathFactory) -> projects.Site:
    root = tmp_path_factory.mktemp("hostile")
    project = projects.hostile_project(root / "project")
    return projects.build(project, root / "preview")


@pytest.fixture(scope="session")
def edited_site(chromium_ready: None, tmp_path_factory: pytest.TempPathFactory) -> projects.Site:
    root = tmp_path_factory.mktemp("edited")
    project, env = projects.edited_after_publishing(root)
    return projects.build(project, root / "preview", "--env", env)


@pytest.fixture(scope="session")
def invalid_site(chromium_ready: None, tmp_path_factory: pytest.TempPathFactory) -> projects.Site:
    root = tmp_path_factory.mktemp("invalid")
    project = projects.invalid_project(root / "project")
    return projects.build_invalid(project, root / "preview")
