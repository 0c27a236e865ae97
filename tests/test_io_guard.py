"""The suite's own guard (tests/conftest.py): writing outside tmp_path fails, inside is fine."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import WriteGuard

pytest_plugins = ["pytester"]

Write = Callable[[Path, Path], object]  # (target outside or inside, a file that exists in tmp)


def _open_write(target: Path, _: Path) -> object:
    with open(target, "w", encoding="utf-8") as file:  # builtins.open itself
        return file.write("x")


def _open_flags(target: Path, _: Path) -> object:
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(descriptor)
    return descriptor


WRITES: list[tuple[str, Write]] = [
    ("open-w", _open_write),
    ("write_text", lambda target, _: target.write_text("x", encoding="utf-8")),
    ("append", lambda target, _: target.open("a", encoding="utf-8").close()),
    ("exclusive", lambda target, _: target.open("x", encoding="utf-8").close()),
    ("os.open-create", _open_flags),
    ("mkdir", lambda target, _: target.mkdir()),
    ("rename-into", lambda target, source: source.rename(target)),
    ("replace-into", lambda target, source: os.replace(source, target)),
    ("symlink", lambda target, source: target.symlink_to(source)),
    ("hardlink", lambda target, source: target.hardlink_to(source)),
    ("sqlite", lambda target, _: sqlite3.connect(target).close()),
]
# Each of these acts on something that is not there outside: refused before the OS is asked.
REMOVALS: list[tuple[str, Write]] = [
    ("unlink", lambda target, _: target.unlink()),
    ("os.remove", lambda target, _: os.remove(target)),
    ("rmdir", lambda target, _: target.rmdir()),
    ("rmtree", lambda target, _: shutil.rmtree(target)),
    ("truncate", lambda target, _: os.truncate(target, 0)),
    ("rename-away", lambda target, source: target.rename(source.with_name("back"))),
]


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory, write_guard: WriteGuard) -> Iterator[Path]:
    """A path beside pytest's basetemp, outside every tmp_path; removed if a write got through."""
    path = tmp_path_factory.getbasetemp().parent / f"ipass-guard-probe-{uuid.uuid4().hex}"
    try:
        yield path
    finally:
        with write_guard.lifted():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.txt"
    path.write_text("x", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "write", [w for _, w in WRITES + REMOVALS], ids=[n for n, _ in WRITES + REMOVALS]
)
def test_writes_outside_tmp_path_are_refused(
    write: Write, outside: Path, source: Path, write_guard: WriteGuard
) -> None:
    with write_guard.refusal():
        write(outside, source)
    assert not outside.exists()
    assert not outside.is_symlink()
    assert source.read_text(encoding="utf-8") == "x"


@pytest.mark.parametrize("write", [w for _, w in WRITES], ids=[n for n, _ in WRITES])
def test_the_same_writes_inside_tmp_path_are_fine(
    write: Write, tmp_path: Path, source: Path, write_guard: WriteGuard
) -> None:
    target = tmp_path / "sub" / "target"
    target.parent.mkdir()
    write(target, source)
    assert target.exists()
    assert write_guard.refused == []


def test_removing_renaming_and_truncating_inside_tmp_path_are_fine(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    file = folder / "f.txt"
    file.write_text("abc", encoding="utf-8")
    os.truncate(file, 1)
    with file.open("r+b") as handle:
        os.truncate(handle.fileno(), 0)  # by descriptor: checked when the path was opened
    file.rename(folder / "g.txt")
    (folder / "g.txt").unlink()
    folder.rmdir()
    (tmp_path / "a" / "c").mkdir()
    shutil.rmtree(tmp_path / "a")
    assert list(tmp_path.iterdir()) == []


def test_reading_outside_and_writing_to_devnull_are_fine() -> None:
    assert "write_guard" in Path(__file__).with_name("conftest.py").read_text(encoding="utf-8")
    with open(os.devnull, "w", encoding="utf-8") as sink:
        sink.write("x")
    descriptor = os.open(Path(__file__), os.O_RDONLY)
    os.close(descriptor)


def test_a_relative_path_is_resolved_against_the_current_folder(
    tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, write_guard: WriteGuard
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("inside.txt").write_text("x", encoding="utf-8")
    with write_guard.refusal():
        Path(os.path.relpath(outside, tmp_path)).write_text("x", encoding="utf-8")
    assert (tmp_path / "inside.txt").exists()
    assert not outside.exists()


def test_a_symlink_inside_that_points_outside_is_followed_for_writes(
    tmp_path: Path, outside: Path, write_guard: WriteGuard
) -> None:
    link = tmp_path / "link"
    link.symlink_to(outside)
    with write_guard.refusal():
        link.write_text("x", encoding="utf-8")
    assert not outside.exists()
    link.unlink()  # removes the link itself, inside tmp_path: fine


def test_a_refusal_that_the_code_swallows_is_still_recorded(
    outside: Path, write_guard: WriteGuard
) -> None:
    with contextlib.suppress(OSError):  # as careless code would: the guard still fails the test
        outside.write_text("x", encoding="utf-8")
    shown = os.path.realpath(outside)
    assert write_guard.refused == [f"tests may not write outside tmp_path: open {shown}"]
    write_guard.refused.clear()  # only this test expects it


@pytest.mark.slow
def test_a_swallowed_refusal_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text(encoding="utf-8"))
    outside = pytester.path / "outside.txt"  # beside the inner run's basetemp
    pytester.makepyfile(
        test_inner=f"""
        from pathlib import Path

        def test_swallows(tmp_path):
            (tmp_path / "fine.txt").write_text("x")
            try:
                Path({str(outside)!r}).write_text("x")
            except OSError:
                pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*tests may not write outside tmp_path: open *outside.txt*"])
    assert not outside.exists()


def test_python_may_cache_bytecode_and_existing_folders_may_be_made_again(
    write_guard: WriteGuard,
) -> None:
    tests = os.path.realpath(Path(__file__).parent)
    assert write_guard.allows(os.path.join(tests, "__pycache__"))
    assert write_guard.allows(os.path.join(tests, "__pycache__", "x.cpython-311.pyc.123"))
    assert not write_guard.allows(os.path.join(tests, "__pycache__x"))
    assert not write_guard.allows(tests)
    Path(__file__).parent.mkdir(exist_ok=True)  # there already: nothing is written
    assert write_guard.refused == []
