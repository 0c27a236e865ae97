"""One writer per environment: an OS lock that dies with its process, plus a holder file.

The OS lock (`flock`) is released by the kernel when the holder exits, however it exits, so a
killed apply never leaves a lock that blocks the next one. The holder file names who holds it
(lock id, pid, host, start time) for the message the second apply prints; `force-unlock` clears a
holder file whose lock is no longer held, and only with its lock id.

Both files are ipass's own: neither is ever opened through a symbolic link, and a link, folder,
device or pipe in their place is refused (`StorageError`, exit 3), as is a link standing for the
locks folder or (given the project folder) for `.ipass/` above it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from reconciler.adapters.files import ensure_folder, refuse_unless_regular, write_atomic
from reconciler.domain.state import utc_now
from reconciler.errors import ConflictError, StorageError

# Never through a link; O_NONBLOCK so that a pipe planted in its place cannot hang the open.
_LOCK_FILE = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_MAX_HOLDER_BYTES = 64 * 1024


@dataclass(frozen=True)
class LockInfo:
    lock_id: str
    pid: int
    host: str
    started_at: str
    operation: str

    def describe(self) -> str:
        return (
            f"lock {self.lock_id} held by pid {self.pid} on {self.host} "
            f"since {self.started_at} ({self.operation})"
        )


class EnvironmentLock:
    """`with EnvironmentLock(folder, env, "apply"):` — raises ConflictError when held elsewhere.

    `root`, the project folder, makes every folder from it down to `folder` refuse a link.
    """

    def __init__(
        self, folder: Path, environment: str, operation: str, *, root: Path | None = None
    ) -> None:
        self.path = folder / f"{environment}.lock"
        self.info_path = folder / f"{environment}.lock.json"
        self.operation = operation
        self.info: LockInfo | None = None
        self._root = root
        self._fd: int | None = None

    def acquire(self) -> LockInfo:
        ensure_folder(self.path.parent, below=self._root)
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_holder(self.info_path)
            who = holder.describe() if holder else "another process (holder unknown)"
            raise ConflictError(
                f"the state is locked: {who}",
                hint="wait for it to finish; if that process is gone, the lock frees itself",
            ) from None
        self._fd = fd
        self.info = LockInfo(
            lock_id=str(uuid.uuid4()),
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=utc_now(),
            operation=self.operation,
        )
        try:
            write_atomic(self.info_path, json.dumps(asdict(self.info), sort_keys=True).encode())
        except BaseException:
            self._unlock()
            raise
        return self.info

    def _open(self) -> int:
        """The lock file, created if missing: a regular file, never reached through a link."""
        refuse_unless_regular(self.path)  # says "symbolic link" or "not a regular file" plainly
        try:
            fd = os.open(self.path, _LOCK_FILE, 0o644)
        except OSError as error:  # a link planted since the check: ELOOP
            raise StorageError.refused(self.path, "open the lock file", error) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the check
            os.close(fd)
            raise StorageError(
                f"{self.path}: is not a regular file; ipass will not use it as its lock",
                hint="move it away, then run the command again",
            )
        return fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.info_path)
        self._unlock()

    def _unlock(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def read_holder(info_path: Path) -> LockInfo | None:
    """The recorded holder; None when there is none or it is unreadable (a link is not read)."""
    try:
        fd = os.open(info_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            data = json.loads(handle.read(_MAX_HOLDER_BYTES).decode("utf-8"))
        return LockInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def force_unlock(folder: Path, environment: str, lock_id: str) -> LockInfo:
    """Clear a stale holder record, only with its exact lock id and only if nobody holds it."""
    lock = EnvironmentLock(folder, environment, "force-unlock")
    holder = read_holder(lock.info_path)
    if holder is None:
        raise ConflictError(f"environment {environment!r} has no lock record to clear")
    if holder.lock_id != lock_id:
        raise ConflictError(
            f"lock id {lock_id!r} does not match the recorded {holder.lock_id!r}",
            hint="copy the lock id from the message that named the holder",
        )
    lock.acquire()  # raises if a live process still holds it
    lock.release()
    return holder
