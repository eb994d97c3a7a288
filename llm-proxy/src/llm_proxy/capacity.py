"""Which deployments may be called right now: cooldowns after 429s or repeated failures, and rpm/tpm budgets.

Small and our own (see shared/reference/reliability.md: the breaker libraries do not fit asyncio). State lives on
one instance built in the composition root; time comes from an injected clock so tests need no sleeping. These are
the per-process versions; ``shared_capacity.py`` extends both to share them between replicas through Redis.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from llm_proxy.errors import ProxyError

Clock = Callable[[], float]
WINDOW_S = 60.0


class BudgetExhausted(ProxyError):
    """The proxy's own rpm/tpm budget of a deployment is used up: the next deployment of the chain serves, or the
    client gets a 429 with ``Retry-After`` at once (waiting for our own window is never worth a retry)."""

    def __init__(self, name: str, wait: float) -> None:
        super().__init__("rate_limit", f"the rate limit configured for {name} is reached", retry_after=wait)

    @property
    def retryable(self) -> bool:
        return False


class Cooldowns:
    """A deployment that returned 429, or failed ``threshold`` times in a row, is skipped for ``seconds``."""

    def __init__(self, seconds: float, threshold: int, clock: Clock = time.monotonic) -> None:
        self._seconds = seconds
        self._threshold = threshold
        self._clock = clock
        self._until: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    def remaining(self, name: str) -> float:
        """Seconds left of ``name``'s cooldown (0 when it may be called)."""
        until = self._until.get(name)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._until[name]
            return 0.0
        return left

    def failed(self, name: str, *, rate_limited: bool, retry_after: float | None) -> bool:
        """Record a failure; ``True`` when it started a cooldown."""
        failures = self._failures.get(name, 0) + 1
        self._failures[name] = failures
        if not rate_limited and failures < self._threshold:
            return False
        self._failures[name] = 0
        started = self.remaining(name) == 0.0
        self._cool(name, max(self._seconds, retry_after or 0.0))
        return started

    def succeeded(self, name: str) -> None:
        self._failures.pop(name, None)

    def extend(self, name: str, seconds: float) -> None:
        """Cool ``name`` down for at least ``seconds`` from now (a cooldown another replica started)."""
        until = self._clock() + seconds
        if until > self._until.get(name, 0.0):
            self._until[name] = until

    def cooling(self) -> dict[str, float]:
        """Every deployment cooling down now, with its seconds left."""
        return {name: left for name in list(self._until) if (left := self.remaining(name)) > 0.0}

    def _cool(self, name: str, seconds: float) -> None:
        self._until[name] = self._clock() + seconds


@dataclass(slots=True)
class _Window:
    started: float
    requests: int = 0
    tokens: int = 0


class RateBudgets:
    """Requests and tokens per minute per deployment, counted in fixed one-minute windows."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def wait(self, name: str, rpm: int | None, tpm: int | None, tokens: int) -> float:
        """Seconds until ``name`` can take a request of ``tokens`` (0: now). Does not reserve anything."""
        if rpm is None and tpm is None:
            return 0.0
        window = self._window(name)
        over = (rpm is not None and window.requests >= rpm) or (
            tpm is not None and window.tokens and window.tokens + tokens > tpm
        )
        return max(0.0, window.started + WINDOW_S - self._clock()) if over else 0.0

    def spend(self, name: str, tokens: int) -> None:
        window = self._window(name)
        window.requests += 1
        window.tokens += tokens

    async def take(self, name: str, rpm: int | None, tpm: int | None, tokens: int) -> None:
        """Spend one request of ``tokens`` if the budget allows it, else raise ``BudgetExhausted``."""
        wait = self.wait(name, rpm, tpm, tokens)
        if wait > 0.0:
            raise BudgetExhausted(name, wait)
        self.spend(name, tokens)

    def mirror(self, name: str, requests: int, tokens: int, seconds_left: float) -> None:
        """Take over a window counted elsewhere (the replicas' shared one), so ``wait`` sees what they spent."""
        started = self._clock() - (WINDOW_S - seconds_left)
        self._windows[name] = _Window(started, requests, tokens)

    def _window(self, name: str) -> _Window:
        now = self._clock()
        window = self._windows.get(name)
        if window is None or now - window.started >= WINDOW_S:
            window = self._windows[name] = _Window(now)
        return window
