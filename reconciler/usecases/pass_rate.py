"""How fast createPass requests may leave, shared by every worker.

`--rate N` is a ceiling in requests per second. When AlipayHK says "too fast" (HTTP 429 after the
client's own waits, or REQUEST_TRAFFIC_EXCEED_LIMIT), everyone pauses for its Retry-After (or a
second) and the pace halves (once per pause: the answers of requests already in flight do not
halve it again); it doubles again every second without complaint, never above the ceiling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

MIN_RATE: Final = 0.5
DEFAULT_PAUSE: Final = 1.0
MAX_PAUSE: Final = 60.0


class RateGate:
    def __init__(
        self,
        ceiling: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ceiling = ceiling
        self._rate = ceiling  # None: no limit until AlipayHK asks for one
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_at = 0.0
        self._paused_until = 0.0
        self._raised_at = 0.0
        self._recent = 0
        self._window_start = clock()
        self.slowdowns = 0

    @property
    def rate(self) -> float | None:
        return self._rate

    def wait(self) -> None:
        """Block until this caller may send one request."""
        while True:
            with self._lock:
                now = self._clock()
                start = max(now, self._next_at, self._paused_until)
                if start <= now:
                    self._count(now)
                    if self._rate is not None:
                        self._next_at = now + 1.0 / self._rate
                    self._recover(now)
                    return
            self._sleep(min(start - now, 0.25))

    def _count(self, now: float) -> None:
        if now - self._window_start >= 1.0:
            self._window_start, self._recent = now, 0
        self._recent += 1

    def _recover(self, now: float) -> None:
        if self._rate is None or now - self._raised_at < 1.0 or now < self._paused_until + 1.0:
            return
        self._raised_at = now
        raised = self._rate * 2
        self._rate = raised if self._ceiling is None else min(raised, self._ceiling)

    def slow_down(self, retry_after: float | None) -> None:
        """AlipayHK asked for less: pause everyone, then send at half the pace."""
        with self._lock:
            now = self._clock()
            pause = min(
                retry_after if retry_after and retry_after > 0 else DEFAULT_PAUSE, MAX_PAUSE
            )
            self._paused_until = max(self._paused_until, now + pause)
            seen = self._rate if self._rate is not None else max(float(self._recent), 2.0)
            self._rate = max(seen / 2, MIN_RATE)
            self._raised_at = self._paused_until
            self.slowdowns += 1
