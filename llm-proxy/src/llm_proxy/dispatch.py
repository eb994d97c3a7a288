"""Before the first byte goes downstream: pick a deployment, retry it, fall back, and cool failing ones down.

One retry loop for the whole proxy (providers never retry on their own): per deployment, bounded attempts with
exponential backoff and jitter that honour ``Retry-After`` (tenacity's wait strategy), then the next deployment of
the chain.
A request is "open" once its first delta arrived; from then on nothing is retried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from tenacity import AsyncRetrying, RetryCallState, wait_exponential_jitter

from llm_proxy.capacity import Cooldowns, RateBudgets
from llm_proxy.catalog import Catalog, ModelEntry
from llm_proxy.errors import ProxyError, context_length_error
from llm_proxy.metrics import Metrics
from llm_proxy.providers.base import Batch, Provider
from llm_proxy.schemas import ChatCompletionRequest

T = TypeVar("T")

# Failures that say something about the deployment's health (a bad request or a too-long prompt does not).
_HEALTH_FAILURES = frozenset({"rate_limit", "server", "unavailable", "connection", "malformed", "truncated", "timeout"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_byte_timeout: float
    max_retries: int
    backoff: float
    backoff_max: float
    max_retry_after: float


@dataclass(slots=True)
class OpenedStream:
    """A completion whose first batch arrived: ``first`` then the rest of ``rest``; ``started`` is when the
    request reached the dispatcher."""

    entry: ModelEntry
    first: Batch
    rest: AsyncGenerator[Batch, None]
    started: float


class Dispatcher:
    """Opens completions on the deployments of a model's chain."""

    def __init__(
        self,
        catalog: Catalog,
        providers: Mapping[str, Provider],
        cooldowns: Cooldowns,
        budgets: RateBudgets,
        metrics: Metrics,
        policy: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._catalog = catalog
        self._providers = providers
        self._cooldowns = cooldowns
        self._budgets = budgets
        self._metrics = metrics
        self._policy = policy
        self._sleep = sleep
        self._backoff = wait_exponential_jitter(
            multiplier=policy.backoff, max=policy.backoff_max, jitter=policy.backoff
        )
        self._retrying = AsyncRetrying(wait=self._backoff)  # owner of the retry states; never iterated

    def is_available(self, entry: ModelEntry) -> bool:
        provider = self._providers.get(entry.provider)
        return provider is not None and provider.configured and self._cooldowns.remaining(entry.name) == 0.0

    async def open(self, request: ChatCompletionRequest, entry: ModelEntry, prompt_tokens: int) -> OpenedStream:
        """The first deployment of the chain that produces a first delta; raises the last ``ProxyError``."""
        started = time.perf_counter()
        needed = prompt_tokens + (request.output_limit or 0)

        async def attempt(candidate: ModelEntry) -> OpenedStream:
            return await self._attempt(request, candidate, prompt_tokens)

        opened = await self._over_chain(entry, needed, prompt_tokens, attempt)
        opened.started = started  # time to first token counts retries and fallbacks
        return opened

    async def call(
        self, entry: ModelEntry, prompt_tokens: int, action: Callable[[Provider, ModelEntry], Awaitable[T]]
    ) -> T:
        """``action`` (one whole upstream call, e.g. embeddings) on the chain with the same retries, fallbacks,
        budgets and cooldowns as a completion."""

        async def attempt(candidate: ModelEntry) -> T:
            provider = await self._ready(candidate, prompt_tokens)
            try:
                result = await action(provider, candidate)
            except ProxyError as exc:
                self._failed(candidate, exc)
            self._cooldowns.succeeded(candidate.name)
            return result

        return await self._over_chain(entry, prompt_tokens, prompt_tokens, attempt)

    async def _over_chain(
        self, entry: ModelEntry, needed: int, prompt_tokens: int, attempt: Callable[[ModelEntry], Awaitable[T]]
    ) -> T:
        candidates = self._candidates(entry, needed, prompt_tokens)
        error: ProxyError | None = None
        for position, candidate in enumerate(candidates):
            if error is not None:
                previous = candidates[position - 1]
                labels = (
                    self._metrics.model(previous.name, previous.provider),
                    self._metrics.model(candidate.name, candidate.provider),
                )
                self._metrics.fallbacks.labels(*labels).inc()
            try:
                last = position == len(candidates) - 1
                return await self._with_retries(attempt, candidate, last)
            except ProxyError as exc:
                if not exc.falls_back:
                    raise
                error = exc
        assert error is not None
        raise error

    def _candidates(self, entry: ModelEntry, needed: int, prompt_tokens: int) -> list[ModelEntry]:
        chain = self._catalog.chain(entry)
        fitting = [e for e in chain if needed <= e.context_window]
        if not fitting:
            raise context_length_error(needed, max(e.context_window for e in chain), entry.name)
        waits = {e.name: self._budgets.wait(e.name, e.rpm, e.tpm, prompt_tokens) for e in fitting}
        within_budget = [e for e in fitting if waits[e.name] == 0.0]
        if not within_budget:
            wait = min(waits.values())
            raise ProxyError("rate_limit", f"the rate limit configured for {entry.name} is reached", retry_after=wait)
        ready = [e for e in within_budget if self._cooldowns.remaining(e.name) == 0.0]
        # Cooling the only usable deployment down would turn a transient failure into a certain one.
        return ready or within_budget

    async def _with_retries(self, attempt: Callable[[ModelEntry], Awaitable[T]], entry: ModelEntry, last: bool) -> T:
        """Up to ``1 + max_retries`` attempts on one deployment. The first attempt runs bare: tenacity's per-call
        objects cost ~4% of a request's CPU, so its state is built only when a retry is due."""
        number = 1
        while True:
            try:
                return await attempt(entry)
            except ProxyError as exc:
                if number > self._policy.max_retries or not self._should_retry(exc, last):
                    raise
                self._metrics.retries.labels(self._metrics.label(entry), entry.provider).inc()
                await self._sleep(self._wait(number, exc))
                number += 1

    def _should_retry(self, exc: ProxyError, last: bool) -> bool:
        if not exc.retryable:
            return False
        if exc.kind == "rate_limit" and not last:
            return False  # the deployment is cooling down; the next one is a better bet than waiting
        return (exc.retry_after or 0.0) <= self._policy.max_retry_after

    def _wait(self, attempt: int, exc: ProxyError) -> float:
        """Backoff after failed attempt ``attempt`` (tenacity's exponential jitter), never below ``Retry-After``."""
        state = RetryCallState(self._retrying, None, (), {})
        state.attempt_number = attempt
        return max(self._backoff(state), exc.retry_after or 0.0)

    async def _ready(self, entry: ModelEntry, prompt_tokens: int) -> Provider:
        """The deployment's provider, once it is configured and the request is within its rpm/tpm budget."""
        provider = self._providers.get(entry.provider)
        if provider is None or not provider.configured:
            raise ProxyError("unavailable", f"the provider '{entry.provider}' of {entry.name} is not configured")
        if entry.rpm is not None or entry.tpm is not None:
            await self._budgets.take(entry.name, entry.rpm, entry.tpm, prompt_tokens)
        return provider

    async def _attempt(self, request: ChatCompletionRequest, entry: ModelEntry, prompt_tokens: int) -> OpenedStream:
        provider = await self._ready(entry, prompt_tokens)
        started = time.perf_counter()
        stream = provider.stream(request, entry)
        limit = entry.first_byte_timeout or self._policy.first_byte_timeout
        try:
            async with asyncio.timeout(limit):
                first = await anext(stream)
        except TimeoutError:
            await stream.aclose()
            message = f"{entry.name} sent nothing within its {limit:g} s first-byte timeout"
            self._failed(entry, ProxyError("timeout", message))
        except StopAsyncIteration:
            self._failed(entry, ProxyError("truncated", f"{entry.name} ended its stream before any output"))
        except ProxyError as exc:
            await stream.aclose()
            self._failed(entry, exc)
        self._cooldowns.succeeded(entry.name)
        return OpenedStream(entry, first, stream, started)

    def _failed(self, entry: ModelEntry, error: ProxyError) -> NoReturn:
        self._metrics.errors.labels(self._metrics.label(entry), entry.provider, error.kind).inc()
        if error.kind in _HEALTH_FAILURES:
            rate_limited = error.kind == "rate_limit"
            if self._cooldowns.failed(entry.name, rate_limited=rate_limited, retry_after=error.retry_after):
                self._metrics.cooldowns.labels(self._metrics.label(entry), entry.provider).inc()
        raise error
