"""One writer per environment: an OS lock that dies with its process, plus a holder file.

The OS lock (`flock`) is released by the kernel when the holder exits, however it exits, so a
killed apply never leaves a lock that blocks the next one. The holder file names who holds it
(lock id, pid, host, start time) for the message the second apply prints; `force-unlock` clears a
holder file whose lock is no longer held, and only with its lock id.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from reconciler.adapters.files import write_atomic
from reconciler.domain.state import utc_now
from reconciler.errors import ConflictError


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
    """`with EnvironmentLock(folder, env, "apply"):` — raises ConflictError when held elsewhere."""

    def __init__(self, folder: Path, environment: str, operation: str) -> None:
        self.path = folder / f"{environment}.lock"
        self.info_path = folder / f"{environment}.lock.json"
        self.operation = operation
        self.info: LockInfo | None = None
        self._handle: IO[bytes] | None = None

    def acquire(self) -> LockInfo:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+b")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            holder = read_holder(self.info_path)
            who = holder.describe() if holder else "another process (holder unknown)"
            raise ConflictError(
                f"the state is locked: {who}",
                hint="wait for it to finish; if that process is gone, the lock frees itself",
            ) from None
        self._handle = handle
        self.info = LockInfo(
            lock_id=str(uuid.uuid4()),
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=utc_now(),
            operation=self.operation,
        )
        write_atomic(self.info_path, json.dumps(asdict(self.info), sort_keys=True).encode())
        return self.info

    def release(self) -> None:
        if self._handle is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.info_path)
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

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
    try:
        data = json.loads(info_path.read_text(encoding="utf-8"))
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
