"""No text from a catalog, a state file or a user reaches a terminal or CI log raw.

A line break followed by `::error::` would be a GitHub Actions workflow command; ESC or the C1
CSI (U+009B) starts a terminal sequence; U+2028 breaks a line in some viewers; U+202E reverses
what a reviewer reads. Each output path (problems, hints, errors, plan text, markdown and JSON,
render, state, sandbox listings, progress lines) shows them escaped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import REPO, run_cli
from test_catalog import COUPON, project

from reconciler.domain.text import json_text, printable

# Every kind of hidden character, each after a line break that would start a workflow command.
HOSTILE = ("\n::error::forged", "\x1b[31mred", "\x9b31mcsi", "\u2028::warning::sep", "\u202eevil")
RAW = ("\n::error::", "\x1b", "\x9b", "\u2028", "\u202e")


def assert_inert(text: str) -> None:
    for raw in RAW:
        assert raw not in text, (raw, text)
    assert not any(line.startswith("::") for line in text.splitlines())


@pytest.mark.parametrize("hostile", HOSTILE)
def test_printable_and_json_text_hide_every_member(hostile: str) -> None:
    assert_inert(printable(f"name {hostile}"))
    encoded = json_text(json.dumps({"name": hostile}, ensure_ascii=False))
    assert_inert(encoded)
    assert json.loads(encoded) == {"name": hostile}  # the same data


def test_printable_keeps_ordinary_text() -> None:
    assert printable("咖啡券 HK$38 — café ☕") == "咖啡券 HK$38 — café ☕"


def hostile_catalog(tmp_path: Path, text: str) -> Path:
    # A catalog text with every hidden character in a customer-facing field (YAML escapes).
    escaped = text.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    entry = COUPON.replace('"{{ title }}"', f'"Coffee {escaped}"').replace(
        "Usage notes", f'"Notes {escaped}"'
    )
    return project(tmp_path, {"catalog/templates/coffee.yaml": entry})


@pytest.mark.parametrize("hostile", HOSTILE)
def test_render_plan_and_markdown_show_catalog_text_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hostile: str
) -> None:
    root = hostile_catalog(tmp_path, hostile)
    for command in (
        ("render",),
        ("render", "--pretty"),
        ("plan",),
        ("plan", "--format", "markdown"),
        ("plan", "--format", "json"),
    ):
        run = run_cli(capsys, "-C", str(root), *command)
        assert run.code == 0, (command, run.err)
        assert_inert(run.out)
        assert_inert(run.err)
    rendered = json.loads(run_cli(capsys, "-C", str(root), "render").out)
    assert rendered["coffee"]["localeInfo"]["en_US"]["description"] == f"Notes {hostile}"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_problems_and_hints_built_from_catalog_text_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hostile: str
) -> None:
    # An undefined name built from catalog text reaches the "did you mean" machinery, and an
    # unknown field name reaches the message.
    escaped = hostile.encode("unicode_escape").decode("ascii")
    entry = COUPON.replace("stock: 10", f'"stock{escaped}": 10')
    root = project(tmp_path, {"catalog/templates/coffee.yaml": entry})
    run = run_cli(capsys, "-C", str(root), "validate")
    assert run.code == 1
    assert_inert(run.out)
    assert_inert(run.err)
    assert "unknown field" in run.out


@pytest.mark.parametrize("hostile", HOSTILE)
def test_values_given_on_the_command_line_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hostile: str
) -> None:
    root = hostile_catalog(tmp_path, "plain")
    for args in (
        ("render", f"coffee{hostile}"),
        ("plan", "--target", f"coffee{hostile}"),
        ("state", "show", f"coffee{hostile}"),
        ("state", "import", "coffee", "--template-code", f"T1{hostile}"),
        ("plan", "--env", f"prod{hostile}"),
    ):
        run = run_cli(capsys, "-C", str(root), *args)
        assert run.code == 1, (args, run.err)
        assert_inert(run.out)
        assert_inert(run.err)


def test_a_template_code_with_hidden_characters_is_never_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = hostile_catalog(tmp_path, "plain")
    run = run_cli(
        capsys, "-C", str(root), "state", "import", "coffee", "--template-code", "T1\n::error::x"
    )
    assert run.code == 1
    assert run.err.splitlines()[0] == (
        "error: --template-code may hold only printable ASCII characters, without spaces"
    )
    assert not (root / ".ipass/sandbox/state/sandbox.json").exists()


def test_apply_progress_state_and_sandbox_listings_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = hostile_catalog(tmp_path, "\u202e\n::error::x\x9b")
    run = run_cli(capsys, "-C", str(root), "apply", "--auto-approve")
    assert run.code == 0, run.err
    assert_inert(run.out)
    for args in (
        ("state", "list"),
        ("state", "list", "--json"),
        ("state", "show", "coffee"),
        ("state", "history", "coffee"),
        ("sandbox", "templates"),
        ("sandbox", "templates", "--json"),
        ("sandbox", "requests"),
    ):
        listed = run_cli(capsys, "-C", str(root), *args)
        assert listed.code == 0, (args, listed.err)
        assert_inert(listed.out)
        assert_inert(listed.err)


def test_the_example_catalog_needs_no_escaping(capsys: pytest.CaptureFixture[str]) -> None:
    """Escaping changes nothing for ordinary text: the example renders as plain UTF-8."""
    run = run_cli(capsys, "-C", str(REPO), "render", "--no-cache", "coffee-voucher")
    assert run.code == 0, run.err
    assert "\\u" not in run.out
