"""The backstop: a CPU-time timer (SIGPROF) around one render or around a batch of them.

CPU time, not wall time: a render does no I/O and cannot wait, so its CPU time is its whole cost,
and a valid catalog passes on a busy machine as on an idle one (a wall-clock limit also counted
the time other processes held the core). SIGALRM stays free for others (pytest-timeout's).
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from types import FrameType
from typing import Any, Final

# The timer: process CPU time (user + system), and the clock it counts.
SIGNAL: Final = signal.SIGPROF
TIMER: Final = signal.ITIMER_PROF
clock = time.process_time


class DeadlineExceeded(BaseException):
    """Raised from the timer's signal handler. A BaseException so no `except Exception` inside
    Jinja or a filter can swallow it."""


class Alarm:
    """A CPU-time budget on SIGPROF. Python runs signal handlers in the main thread only, so off
    it the alarm is never armed and only the counting limits apply."""

    def __init__(self) -> None:
        self.rendering = False
        self.expired = False
        self.batch_seconds: float | None = None
        self._saved: tuple[Any, tuple[float, float], float] | None = None

    @staticmethod
    def available() -> bool:
        return threading.current_thread() is threading.main_thread()

    @property
    def batch_expired(self) -> bool:
        """True once a batch's budget is spent: every later render of the batch fails at once."""
        return self.batch_seconds is not None and self.expired

    def arm(self, seconds: float) -> None:
        self.expired = False
        handler = signal.signal(SIGNAL, self._on_alarm)
        previous = signal.setitimer(TIMER, seconds)
        self._saved = (handler, previous, clock() if previous[0] else 0.0)

    def disarm(self) -> None:
        signal.setitimer(TIMER, 0)
        if self._saved is None:
            return
        handler, (delay, interval), started = self._saved
        self._saved = None
        # A handler installed from C reads back as None and cannot be put back from Python.
        signal.signal(SIGNAL, signal.SIG_DFL if handler is None else handler)
        if delay:
            # An outer timer that ran out meanwhile fires right away instead of never.
            left = delay - (clock() - started)
            signal.setitimer(TIMER, max(left, 1e-6), interval)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self.rendering and _in_gc_callback(frame):
            # An exception raised inside a garbage-collector callback is swallowed ("ignored
            # in"), which would lose the deadline: fire again as soon as the callback is done.
            signal.setitimer(TIMER, _RETRY_SECONDS)
            return
        self.expired = True
        if self.rendering:
            self.rendering = False  # one shot: the cleanup after a render is never interrupted
            raise DeadlineExceeded


_RETRY_SECONDS = 0.001
_CALLBACK_DEPTH = 16


def _in_gc_callback(frame: FrameType | None) -> bool:
    """Whether `frame` runs inside a `gc.callbacks` function (a collection can start anywhere)."""
    callbacks = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    callbacks.discard(None)
    for _ in range(_CALLBACK_DEPTH):
        if frame is None or not callbacks:
            return False
        if frame.f_code in callbacks:
            return True
        frame = frame.f_back
    return False
