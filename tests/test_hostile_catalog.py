"""A hostile catalog through the real command line: links, special files, unreadable folders,
names that are not UTF-8 or hold escapes, and variables named like macros or Jinja's own names.

Every test runs `ipass validate`, `plan` or `render` and asserts the exact lines a user sees.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli
from jinja2.defaults import DEFAULT_NAMESPACE
from test_catalog import COUPON, project

from reconciler.domain import catalog_files

SECRET = "title: TOP-SECRET-FROM-THE-RUNNER\n"
MACROS = "{% macro money(cents) %}HK${{ cents // 100 }}{% endmacro %}\n"
LINK_OUT = "symlink points outside the catalog"
LINK_IN = (
    "symlink refused: no link is followed, even within the catalog; "
    "put the real file or folder here"
)
NOT_PLAIN = "not a regular file; the catalog holds plain files"
BAD_NAME = (
    "the name is not UTF-8 (its bytes are shown as \\xNN); rename it: keys, plans and state are "
    "UTF-8 text"
)
NEVER_SKIPS = "make it readable: ipass never skips what it cannot read"


def catalog(tmp_path: Path) -> Path:
    """A clean catalog of two templates (one in a subfolder), a macro file and, outside the
    catalog, a file and a folder a pull request would like the pipeline to read."""
    return project(
        tmp_path,
        {
            "catalog/templates/a.yaml": COUPON,
            "catalog/templates/sub/b.yaml": COUPON,
            "catalog/macros/money.j2": MACROS,
            "secret.yaml": SECRET,
            "elsewhere/x.yaml": COUPON.replace("{{ title }}", "{{ title }} outside"),
            "elsewhere/m.j2": MACROS,
        },
    )


def replace_with_link(path: Path, target: Path) -> None:
    if path.is_dir():
        path.rename(path.with_name(path.name + ".moved"))
    elif path.exists():
        path.unlink()
    os.symlink(target, path)


def validate_lines(capsys: pytest.CaptureFixture[str], root: Path) -> list[str]:
    run = run_cli(capsys, "-C", str(root), "validate")
    assert run.code == 1, run.out + run.err
    assert "TOP-SECRET" not in run.out + run.err
    assert run.err == ""
    return run.out.splitlines()


def plan_lines(capsys: pytest.CaptureFixture[str], root: Path) -> list[str]:
    run = run_cli(capsys, "-C", str(root), "plan")
    assert run.code == 1, run.out + run.err
    assert "TOP-SECRET" not in run.out + run.err
    assert "Traceback" not in run.err
    return run.err.splitlines()


def test_the_clean_catalog_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog(tmp_path)
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert run.out == "ok: 2 entries from 2 files are valid for environment sandbox\n", run.err


# -- class 2: nothing outside the catalog is read ----------------------------------------------


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("catalog/vars.yaml", "secret.yaml"),
        ("catalog/vars.sandbox.yaml", "secret.yaml"),
        ("catalog/defaults.yaml", "secret.yaml"),
        ("catalog/macros/money.j2", "elsewhere/m.j2"),
        ("catalog/templates/leak.yaml", "secret.yaml"),
        ("catalog/templates/sub/leak.yml", "elsewhere/x.yaml"),
        ("catalog/templates/README", "secret.yaml"),  # not a YAML name: still no link allowed
        ("catalog/templates", "elsewhere"),
        ("catalog/templates/sub", "elsewhere"),
        ("catalog/templates/more", "elsewhere"),
        ("catalog/macros", "elsewhere"),
    ],
)
def test_a_link_out_of_the_catalog_is_refused_where_it_stands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], link: str, target: str
) -> None:
    catalog(tmp_path)
    replace_with_link(tmp_path / link, tmp_path / target)
    expected = f"{link}:1:1: {LINK_OUT}"
    assert expected in validate_lines(capsys, tmp_path)
    assert plan_lines(capsys, tmp_path)[0] == f"error: {expected}"


def test_the_catalog_folder_itself_may_not_be_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog(tmp_path)
    replace_with_link(tmp_path / "catalog", tmp_path / "catalog.moved")
    assert validate_lines(capsys, tmp_path) == [
        "catalog:1:1: symlink refused: the catalog must be a folder, not a link to one",
        "1 problem found",
    ]
    run = run_cli(capsys, "-C", str(tmp_path), "render")
    assert run.code == 1
    assert run.err.splitlines()[0] == (
        "error: catalog:1:1: symlink refused: the catalog must be a folder, not a link to one"
    )


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("catalog/templates/copy.yaml", "catalog/templates/a.yaml"),
        ("catalog/templates/sub2", "catalog/templates/sub"),
        ("catalog/vars.yaml", "catalog/templates/a.yaml"),
        ("catalog/macros/more.j2", "catalog/macros/money.j2"),
    ],
)
def test_a_link_within_the_catalog_is_refused_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], link: str, target: str
) -> None:
    catalog(tmp_path)
    replace_with_link(tmp_path / link, tmp_path / target)
    assert f"{link}:1:1: {LINK_IN}" in validate_lines(capsys, tmp_path)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path `os.open` is given while the test runs."""
    seen: list[str] = []
    real_open = os.open

    def recording_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        seen.append(os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    return seen


@pytest.mark.parametrize(
    "fifo",
    [
        "catalog/vars.yaml",
        "catalog/defaults.yaml",
        "catalog/templates/pipe.yaml",
        "catalog/templates/sub/pipe",
        "catalog/macros/pipe.j2",
    ],
)
def test_a_named_pipe_is_refused_without_being_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], opened: list[str], fifo: str
) -> None:
    catalog(tmp_path)
    (tmp_path / fifo).unlink(missing_ok=True)
    os.mkfifo(tmp_path / fifo)
    assert f"{fifo}:1:1: {NOT_PLAIN}" in validate_lines(capsys, tmp_path)
    assert str(tmp_path / fifo) not in opened


def test_an_oversize_macro_file_is_refused_before_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog(tmp_path)
    with (tmp_path / "catalog/macros/huge.j2").open("wb") as handle:
        handle.truncate(1 << 34)  # 16 GiB, sparse: reading it would take far too long
    assert validate_lines(capsys, tmp_path) == [
        "catalog/macros/huge.j2:1:1: file too large (17,179,869,184 bytes; the limit is "
        "1,048,576); split it into smaller files",
        "1 problem found",
    ]


def test_a_macro_file_that_is_not_utf8_is_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog(tmp_path)
    (tmp_path / "catalog/macros/caf.j2").write_bytes(b"{# ok #}\n{# Caf\xe9 #}\n")
    assert validate_lines(capsys, tmp_path) == [
        "catalog/macros/caf.j2:2:7: not UTF-8 text (invalid byte 0xe9 at offset 15); "
        "save the file as UTF-8",
        "1 problem found",
    ]


def test_a_file_swapped_for_a_link_after_discovery_is_refused_at_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race the checks cannot see: the name was a plain file when the folder was listed, and
    # is a link (or a pipe) when it is opened. O_NOFOLLOW and fstat refuse it there.
    catalog(tmp_path)
    discover = catalog_files.template_files

    def discover_then_swap(catalog_dir: Path, root: Path) -> tuple[list[Path], list[Any]]:
        found = discover(catalog_dir, root)
        replace_with_link(catalog_dir / "templates/a.yaml", tmp_path / "elsewhere/x.yaml")
        (catalog_dir / "templates/sub/b.yaml").unlink()
        os.mkfifo(catalog_dir / "templates/sub/b.yaml")
        return found

    monkeypatch.setattr(catalog_files, "template_files", discover_then_swap)
    assert validate_lines(capsys, tmp_path) == [
        "catalog/templates/a.yaml:1:1: symlink refused; put the file itself here",
        f"catalog/templates/sub/b.yaml:1:1: {NOT_PLAIN}",
        "2 problems found",
    ]


def test_vars_swapped_for_a_link_after_its_check_is_refused_at_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog(tmp_path)
    vars_file = tmp_path / "catalog/vars.yaml"
    real_lstat = os.lstat

    def lstat_then_swap(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        status = real_lstat(path, *args, **kwargs)
        if Path(os.fsdecode(path)) == vars_file and stat.S_ISREG(status.st_mode):
            vars_file.unlink()
            os.symlink(tmp_path / "secret.yaml", vars_file)
        return status

    monkeypatch.setattr(os, "lstat", lstat_then_swap)
    assert validate_lines(capsys, tmp_path) == [
        "catalog/vars.yaml:1:1: symlink refused; put the file itself here",
        "1 problem found",
    ]


# -- class 5: unreadable is an error, never an empty folder -----------------------------------


def refuse_listing(
    monkeypatch: pytest.MonkeyPatch, folder: Path, error: Callable[[], OSError]
) -> None:
    """`os.scandir` of `folder` fails as if its permissions said no (tests run as root here,
    where permission bits stop nothing)."""
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if isinstance(path, (str, os.PathLike)) and Path(os.fsdecode(path)) == folder:
            raise error()
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)


def denied() -> OSError:
    return PermissionError(errno.EACCES, "Permission denied")


@pytest.mark.parametrize("folder", ["catalog/templates", "catalog/templates/sub", "catalog/macros"])
def test_an_unreadable_folder_stops_validate_plan_and_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    catalog(tmp_path)
    refuse_listing(monkeypatch, tmp_path / folder, denied)
    expected = f"{folder}:1:1: cannot read the folder (Permission denied); {NEVER_SKIPS}"
    assert validate_lines(capsys, tmp_path) == [expected, "1 problem found"]
    assert plan_lines(capsys, tmp_path)[:2] == [f"error: {expected}", "1 problem found"]
    run = run_cli(capsys, "-C", str(tmp_path), "render")
    assert (run.code, run.out) == (1, "")
    assert run.err.splitlines()[0] == f"error: {expected}"


def test_a_listing_that_fails_midway_is_not_a_shorter_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog(tmp_path)
    (tmp_path / "catalog/templates/sub/c.yaml").write_text(COUPON, encoding="utf-8")
    sub = tmp_path / "catalog/templates/sub"
    real_scandir = os.scandir

    class FailingListing:
        """Yields one entry, then fails as a disk error would."""

        def __init__(self, path: Any) -> None:
            self._inner = real_scandir(path)

        def __enter__(self) -> FailingListing:
            return self

        def __exit__(self, *exc: object) -> None:
            self._inner.close()

        def __iter__(self) -> Iterator[os.DirEntry[str]]:
            yield next(iter(self._inner))
            raise OSError(errno.EIO, "Input/output error")

    def scandir(path: Any = ".") -> Any:
        if isinstance(path, (str, os.PathLike)) and Path(os.fsdecode(path)) == sub:
            return FailingListing(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert validate_lines(capsys, tmp_path) == [
        f"catalog/templates/sub:1:1: cannot read the folder (Input/output error); {NEVER_SKIPS}",
        "1 problem found",
    ]


@pytest.mark.parametrize(
    "file", ["catalog/templates/sub/b.yaml", "catalog/vars.yaml", "catalog/macros/money.j2"]
)
def test_an_unreadable_file_stops_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, file: str
) -> None:
    catalog(tmp_path)
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(os.fsdecode(path)) == tmp_path / file:
            raise denied()
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    lines = validate_lines(capsys, tmp_path)
    assert lines[0].startswith(f"{file}:1:1: cannot read the file (Permission denied); "), lines
    assert plan_lines(capsys, tmp_path)[0] == f"error: {lines[0]}"


def test_a_name_that_cannot_be_looked_at_is_not_taken_as_absent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog(tmp_path)
    defaults = tmp_path / "catalog/defaults.yaml"
    real_lstat = os.lstat

    def lstat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if Path(os.fsdecode(path)) == defaults:
            raise denied()
        return real_lstat(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", lstat)
    assert validate_lines(capsys, tmp_path) == [
        f"catalog/defaults.yaml:1:1: cannot read it (Permission denied); {NEVER_SKIPS}",
        "1 problem found",
    ]


def _unprivileged() -> tuple[int, int] | None:
    """(uid, gid) whose reads permission bits stop: ourselves, or `nobody` when we are root."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        return None
    return nobody.pw_uid, nobody.pw_gid


def _as_user(
    user: tuple[int, int], command: list[str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    # The child changes folder before it changes user, then reads the project by relative paths:
    # it needs no way through the folders above tmp_path, which are private to us.
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "LC_ALL": "C.UTF-8"}
    if "PYTHONPATH" in os.environ:  # a checkout run from elsewhere
        environment["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(
        command,
        cwd=cwd,
        user=user[0],
        group=user[1],
        extra_groups=[] if os.geteuid() == 0 else None,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_folder_without_read_permission_fails_a_real_ipass(tmp_path: Path) -> None:
    user = _unprivileged()
    if user is None:
        pytest.skip("running as root, and there is no `nobody` account to run ipass as")
    root = tmp_path / "project"
    root.mkdir(mode=0o755)
    catalog(root)
    try:
        _as_user(user, [sys.executable, "-c", ""], root)
    except PermissionError as error:
        pytest.skip(f"user {user[0]} cannot start this Python ({error}); no unprivileged run")
    locked = root / "catalog/templates/sub"
    locked.chmod(0)
    try:
        if os.geteuid() != 0 and os.access(locked, os.R_OK):
            pytest.skip("permission bits do not stop this user's reads")
        done = _as_user(user, [sys.executable, "-m", "reconciler", "-C", ".", "validate"], root)
    finally:
        locked.chmod(0o755)
    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout.splitlines() == [
        f"catalog/templates/sub:1:1: cannot read the folder (Permission denied); {NEVER_SKIPS}",
        "1 problem found",
    ]


# -- class 12: checked at the door -------------------------------------------------------------


def test_names_that_are_not_utf8_are_refused_where_they_are_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog(tmp_path)
    templates = os.fsencode(tmp_path / "catalog/templates")
    with open(templates + b"/caf\xe9.yaml", "w", encoding="utf-8") as handle:
        handle.write("key: cafe\n" + COUPON)
    os.mkdir(templates + b"/d\xff")
    with open(templates + b"/d\xff/ok.yaml", "w", encoding="utf-8") as handle:
        handle.write("key: ok\n" + COUPON)
    expected = [
        f"catalog/templates/caf\\xe9.yaml:1:1: {BAD_NAME}",
        f"catalog/templates/d\\xff:1:1: {BAD_NAME}",
    ]
    assert validate_lines(capsys, tmp_path) == [*expected, "2 problems found"]
    assert plan_lines(capsys, tmp_path)[:3] == [
        f"error: {expected[0]}",
        expected[1],
        "2 problems found",
    ]


def test_a_macro_file_name_that_is_not_utf8_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog(tmp_path)
    with open(os.fsencode(tmp_path / "catalog/macros") + b"/\xe9.j2", "wb") as handle:
        handle.write(MACROS.replace("money", "price").encode())
    assert validate_lines(capsys, tmp_path) == [
        f"catalog/macros/\\xe9.j2:1:1: {BAD_NAME}",
        "1 problem found",
    ]


MACRO_CLASH = "is already a macro in catalog/macros/money.j2; choose another name"
GLOBAL_CLASH = "is already a Jinja global; choose another name"


@pytest.mark.parametrize(
    ("name", "meaning"),
    [
        ("money", "a macro in catalog/macros/money.j2"),
        *((name, "a Jinja global") for name in sorted(DEFAULT_NAMESPACE)),
        ("loop", "a name Jinja sets itself"),
        ("self", "a name Jinja sets itself"),
        ("caller", "a name Jinja sets itself"),
        ("'true'", "a Jinja constant"),
        ("'none'", "a Jinja constant"),
        ("'False'", "a Jinja constant"),
        ("'not'", "a Jinja operator"),
    ],
)
def test_a_shared_variable_may_not_take_a_name_templates_already_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, meaning: str
) -> None:
    shown = name.strip("'")
    catalog(tmp_path)
    (tmp_path / "catalog/vars.yaml").write_text(f"title: Coffee\n{name}: 1\n", encoding="utf-8")
    expected = (
        f"catalog/vars.yaml:2:1: variable name {shown!r} is already {meaning}; choose another name"
    )
    assert validate_lines(capsys, tmp_path) == [expected, "1 problem found"]


def test_environment_variables_and_entry_variables_are_checked_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog(tmp_path)
    (tmp_path / "catalog/vars.sandbox.yaml").write_text("\nrange: 3\n", encoding="utf-8")
    assert validate_lines(capsys, tmp_path) == [
        f"catalog/vars.sandbox.yaml:2:1: variable name 'range' {GLOBAL_CLASH}",
        "1 problem found",
    ]
    (tmp_path / "catalog/vars.sandbox.yaml").unlink()
    entry = "vars:\n  money: 5\n  fine: 1\n  cycler: 2\n" + COUPON
    (tmp_path / "catalog/templates/a.yaml").write_text(entry, encoding="utf-8")
    assert validate_lines(capsys, tmp_path) == [
        f"catalog/templates/a.yaml:2:3: vars.money: variable name 'money' {MACRO_CLASH}",
        f"catalog/templates/a.yaml:4:3: vars.cycler: variable name 'cycler' {GLOBAL_CLASH}",
        "2 problems found",
    ]


# -- names are shown escaped -------------------------------------------------------------------


def test_hostile_names_are_escaped_in_every_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog(tmp_path)
    folder = tmp_path / "catalog/templates/x\x1b[2J::error::y"
    folder.mkdir()
    os.symlink(tmp_path / "secret.yaml", folder / "a\nb.yaml")
    os.mkfifo(tmp_path / "catalog/templates/\u202epipe.yaml")
    with open(os.fsencode(tmp_path / "catalog/templates") + b"/\r\xe9.yaml", "w") as handle:
        handle.write(COUPON)
    expected = [
        f"catalog/templates/\\r\\xe9.yaml:1:1: {BAD_NAME}",
        f"catalog/templates/\\u202epipe.yaml:1:1: {NOT_PLAIN}",
        f"catalog/templates/x\\x1b[2J::error::y/a\\nb.yaml:1:1: {LINK_OUT}",
        "3 problems found",
    ]
    assert validate_lines(capsys, tmp_path) == expected
    errors = plan_lines(capsys, tmp_path)
    assert errors[:4] == [f"error: {expected[0]}", *expected[1:]]
    for text in errors:
        assert not any(char in text for char in "\x1b\r\n\u202e")


def test_a_hidden_character_in_a_file_name_is_escaped_in_the_data_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The shown name travels into plans and state as data (`source`), not only onto a terminal:
    # it holds the escape, never the right-to-left override itself.
    catalog(tmp_path)
    (tmp_path / "catalog/templates/sub/b.yaml").unlink()
    hidden = tmp_path / "catalog/templates/sub/\u202eb\u0085.yaml"
    hidden.write_text("key: b\n" + COUPON, encoding="utf-8")
    run = run_cli(capsys, "-C", str(tmp_path), "plan", "--format", "json")
    assert run.code == 0, run.err
    sources = {step["key"]: step["source"] for step in json.loads(run.out)["steps"]}
    assert sources["b"] == "catalog/templates/sub/\\u202eb\\x85.yaml:1"
