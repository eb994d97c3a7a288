"""Inbound flood control: a token bucket per socket."""

from __future__ import annotations

import time
from collections.abc import Callable


class FrameRate:
    """Allows ``burst`` frames at once and ``per_second`` sustained; ``allow()`` says whether one more may pass."""

    __slots__ = ("_burst", "_clock", "_last", "_per_second", "_tokens")

    def __init__(self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_second = per_second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def allow(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._per_second)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
