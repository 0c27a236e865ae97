"""`ipass apply` in a child process that can be killed at an exact point (no tests here).

The child is a plain `python -c` running `reconciler.cli.main.main`. To die at a precise moment
without hooks in production code, the child first wraps a function (test-side fault injection)
and sends itself SIGKILL there: no `finally`, no `atexit`, no flush, exactly as a power cut or
the OOM killer would end it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

from helpers import REPO

_CHILD: Final = r"""
import json, os, signal, sys

spec = json.loads(sys.argv[1])
point, nth, state_file = spec["point"], spec["nth"], spec["state_file"]


def die():
    os.kill(os.getpid(), signal.SIGKILL)


if point in ("after_pending", "torn_created"):
    from reconciler.adapters import statefile
    from reconciler.domain.events import Created, EventLine, Pending

    original_append = statefile.StateStore.append
    seen = [0]

    def append(self, event, *, durable):
        kind = Pending if point == "after_pending" else Created
        if not isinstance(event, kind):
            return original_append(self, event, durable=durable)
        seen[0] += 1
        if seen[0] < nth:
            return original_append(self, event, durable=durable)
        if point == "after_pending":  # durably journaled, never sent
            original_append(self, event, durable=durable)
            die()
        line = EventLine(event=event).model_dump_json().encode("utf-8") + b"\n"
        handle = self._open_journal()  # half a line reaches the disk, then the process dies
        handle.write(line[: len(line) // 2])
        handle.flush()
        os.fsync(handle.fileno())
        die()

    statefile.StateStore.append = append

if point in ("before_state_rename", "after_state_rename"):
    real_replace = os.replace
    target = os.path.realpath(state_file)

    def replace(src, dst, *args, **kwargs):
        hit = os.path.realpath(dst) == target
        if hit and point == "before_state_rename":  # temp file written and fsynced, not renamed
            die()
        real_replace(src, dst, *args, **kwargs)
        if hit and point == "after_state_rename":  # snapshot in place, journal not yet deleted
            die()

    os.replace = replace

from reconciler.cli.main import main

sys.exit(main(spec["argv"]))
"""


class KillPoint(StrEnum):
    NONE = "none"
    AFTER_PENDING = "after_pending"  # the nth pending line is fsynced; its request never leaves
    TORN_CREATED = "torn_created"  # half of the nth `created` line is on disk
    BEFORE_STATE_RENAME = "before_state_rename"  # snapshot temp file fsynced, rename not done
    AFTER_STATE_RENAME = "after_state_rename"  # snapshot renamed, journal not deleted


class Child:
    """A running `ipass` process; stdout is read line by line as it comes, stderr collected."""

    def __init__(self, argv: list[str], *, point: KillPoint, nth: int, state_file: Path) -> None:
        spec = {"argv": argv, "point": str(point), "nth": nth, "state_file": str(state_file)}
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.pid = self.proc.pid
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._out: list[str] = []
        self._err: list[str] = []
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: IO[str], is_stdout: bool) -> None:
        for line in stream:
            (self._out if is_stdout else self._err).append(line)
            if is_stdout:
                self._lines.put(line)
        if is_stdout:
            self._lines.put(None)

    def wait_line(self, wanted: Callable[[str], bool], *, timeout: float) -> str:
        """The first stdout line (from here on) that `wanted` accepts; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no such line within {timeout}s; stdout: {self.out!r}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self._lines.put(None)
                raise AssertionError(f"stdout ended without such a line: {self.out!r}")
            if wanted(line):
                return line

    def wait(self, *, timeout: float) -> int:
        """The exit code (negative: killed by that signal), once both pipes are drained."""
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    @property
    def out(self) -> str:
        return "".join(self._out)

    @property
    def err(self) -> str:
        return "".join(self._err)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def start_ipass(root: Path, *args: str, point: KillPoint = KillPoint.NONE, nth: int = 1) -> Child:
    """`ipass -C root ARGS` in a child process, to die at `point` (the nth time it is reached)."""
    return Child(
        ["-C", str(root), *args],
        point=point,
        nth=nth,
        state_file=root / "state" / "rehearsal.json",
    )


@dataclass(frozen=True)
class Finished:
    code: int
    out: str
    err: str


def run_ipass(
    root: Path, *args: str, point: KillPoint = KillPoint.NONE, nth: int = 1, timeout: float = 30
) -> Finished:
    """Run the child to its end (or its kill) and return how it ended."""
    with start_ipass(root, *args, point=point, nth=nth) as child:
        code = child.wait(timeout=timeout)
        return Finished(code, child.out, child.err)
