"""Test-wide guards: accidental I/O fails loudly (STYLE.md habit 9).

Network: connecting beyond loopback raises `OSError`.

Files: while a test runs (from the set-up of its function-scoped fixtures to their tear-down),
writing outside the test's `tmp_path` raises `WriteOutsideTmp`, a `PermissionError`, and fails the
test at tear-down even when the code under test caught it. "Writing" is opening for writing,
appending, creating or truncating, and renaming, replacing, removing, linking, making or removing a
folder, `shutil.rmtree`, truncating by path, and opening an SQLite database. Also allowed:

* pytest's basetemp, the parent of every `tmp_path`: module- and session-scoped fixtures (and the
  server threads they start) keep their files there, created by `tmp_path_factory`;
* `os.devnull`;
* `__pycache__` folders: Python caches the bytecode of a module a test imports for the first time.

Hypothesis keeps its storage (example database, constants and Unicode caches) in a folder made
for the run and removed at its end, never in the checkout's `.hypothesis/`: it writes there while
pytest collects, before any fixture exists, so that folder is set in `pytest_configure` and is
allowed too.

How: one `sys.addaudithook` hook, installed when this file is imported (a hook can never be
removed), that does nothing unless the autouse fixture `write_guard` has set the allowed roots.
Paths are made absolute against the current folder and symlinks resolved (the folder holding the
last component for renames and removals, since those act on the link itself).

What it cannot see, so nobody relies on it there:

* Writes by child processes (`subprocess`, the catalog's worker processes): an audit hook lives in
  one interpreter. Tests that start `ipass` or a server in a child process must point it at
  `tmp_path` themselves.
* Files opened by C code on its own, except through the event Python raises for it: SQLite's
  journal files are not seen, only `sqlite3.connect` of the database.
* An integer path is a descriptor that is already open; opening (`os.fdopen`) or truncating it is
  allowed because its path was checked when it was opened. A path relative to a folder descriptor
  (`dir_fd`, as inside `shutil.rmtree`) is resolved through `/proc/self/fd`; where that does not
  exist it is allowed (`shutil.rmtree` itself is checked with its top folder).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

# -- network -------------------------------------------------------------------------------------

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_loopback(address):
        raise OSError(f"tests may not reach the network beyond loopback (tried {address!r})")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_loopback(address):
        raise OSError(f"tests may not reach the network beyond loopback (tried {address!r})")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


# -- files ---------------------------------------------------------------------------------------

_WRITE_FLAGS: Final = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_PYCACHE: Final = f"{os.sep}__pycache__{os.sep}"
_FD_PATHS: Final = Path("/proc/self/fd")

# (path, folder descriptor or None, whether a symlink as last component is followed)
_Target = tuple[object, object, bool]


def _open_targets(args: tuple[Any, ...]) -> list[_Target]:
    path, _mode, flags = args  # open(), io.open() and os.open(); `flags` is always the final one
    if isinstance(path, int) or not (flags or 0) & _WRITE_FLAGS:
        return []
    return [(path, None, True)]


# Audit event -> what it writes. `os.replace` raises "os.rename", `os.unlink` raises "os.remove".
_TARGETS: Final[dict[str, Callable[[tuple[Any, ...]], list[_Target]]]] = {
    "open": _open_targets,
    "os.rename": lambda a: [(a[0], a[2], False), (a[1], a[3], False)],
    "os.remove": lambda a: [(a[0], a[1], False)],
    "os.rmdir": lambda a: [(a[0], a[1], False)],
    "os.mkdir": lambda a: [(a[0], a[2], False)],
    "shutil.rmtree": lambda a: [(a[0], a[1], False)],
    "os.symlink": lambda a: [(a[1], a[2], False)],
    "os.link": lambda a: [(a[1], a[3], False)],
    "os.truncate": lambda a: [] if isinstance(a[0], int) else [(a[0], None, True)],
    "sqlite3.connect": lambda a: [] if str(a[0]) in ("", ":memory:") else [(a[0], None, True)],
}


class WriteOutsideTmp(PermissionError):
    """A test wrote outside its tmp_path; a PermissionError, as a read-only disk would give."""


class WriteGuard:
    """The allowed roots while a test runs (none between tests), and what was refused."""

    def __init__(self) -> None:
        self.roots: tuple[str, ...] = ()
        self.refused: list[str] = []

    def check(self, event: str, args: tuple[Any, ...]) -> None:
        for path, dir_fd, follow in _TARGETS[event](args):
            resolved = _resolve(path, dir_fd, follow=follow)
            if resolved is None or self.allows(resolved):
                continue
            if event == "os.mkdir" and os.path.isdir(resolved):
                continue  # mkdir(exist_ok=True) of a folder that is there writes nothing
            message = f"tests may not write outside tmp_path: {event} {resolved}"
            self.refused.append(message)
            raise WriteOutsideTmp(message)

    def allows(self, path: str) -> bool:
        if path == os.devnull or _PYCACHE in path + os.sep:
            return True
        return any(path == root or path.startswith(root + os.sep) for root in self.roots)

    @contextmanager
    def refusal(self) -> Iterator[None]:
        """For tests of the guard itself: the block must be refused, which is then no failure."""
        before = len(self.refused)
        with pytest.raises(WriteOutsideTmp):
            yield
        assert len(self.refused) == before + 1
        del self.refused[before:]

    @contextmanager
    def lifted(self) -> Iterator[None]:
        """For tests of the guard itself: clean up whatever a broken guard let through."""
        roots, self.roots = self.roots, ()
        try:
            yield
        finally:
            self.roots = roots


def _resolve(path: object, dir_fd: object, *, follow: bool) -> str | None:
    if not isinstance(path, str | bytes | os.PathLike):
        return None  # no such call writes: open() and os.* accept only these
    text = os.fsdecode(path)
    if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(text):
        try:
            text = os.path.join(os.readlink(_FD_PATHS / str(dir_fd)), text)
        except OSError:
            return None  # no /proc: see "What it cannot see" above
    full = os.path.abspath(text)
    if follow:
        return os.path.realpath(full)
    folder, name = os.path.split(full)
    return os.path.join(os.path.realpath(folder), name)


_GUARD: Final = WriteGuard()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _GUARD.roots and event in _TARGETS:
        _GUARD.check(event, args)


sys.addaudithook(_audit)


_HYPOTHESIS_HOME: Final = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    home = Path(tempfile.mkdtemp(prefix="ipass-tests-hypothesis-"))
    config.stash[_HYPOTHESIS_HOME] = home
    set_hypothesis_home_dir(home)


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(_HYPOTHESIS_HOME, None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(autouse=True)
def write_guard(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WriteGuard]:
    roots = (tmp_path, tmp_path_factory.getbasetemp(), request.config.stash[_HYPOTHESIS_HOME])
    _GUARD.roots = tuple(os.path.realpath(root) for root in roots)
    try:
        yield _GUARD
    finally:
        _GUARD.roots = ()
    refused = list(_GUARD.refused)
    _GUARD.refused.clear()
    if refused:
        pytest.fail("\n".join(refused), pytrace=False)
