"""Retries, fallbacks, cooldowns, budgets and context checks, with hand-written fake providers and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import pytest

from llm_proxy.capacity import BudgetExhausted, Cooldowns, RateBudgets
from llm_proxy.catalog import Catalog, ModelEntry
from llm_proxy.dispatch import Dispatcher, RetryPolicy
from llm_proxy.errors import ProxyError
from llm_proxy.metrics import Metrics
from llm_proxy.providers.base import Batch, Finish, TextDelta
from llm_proxy.schemas import ChatCompletionRequest
from service_kit.service import new_registry


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeProvider:
    """Fails with the scripted errors for a deployment (one per call, the last repeats), then answers."""

    configured = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures: dict[str, list[ProxyError | None]] = {}
        self.calls: list[str] = []

    async def aclose(self) -> None:
        return None

    async def stream(self, request: ChatCompletionRequest, entry: ModelEntry) -> AsyncGenerator[Batch, None]:
        self.calls.append(entry.name)
        script = self.failures.get(entry.name, [None])
        error = script[min(self.calls.count(entry.name) - 1, len(script) - 1)]
        if error is not None:
            raise error
        yield [TextDelta(entry.name)]
        yield [Finish("stop")]


class Harness:
    def __init__(
        self, entries: list[ModelEntry], max_retries: int = 2, max_retry_after: float = 10.0, backoff: float = 0
    ) -> None:
        self.clock = FakeClock()
        self.provider = FakeProvider("fake")
        self.sleeps: list[float] = []
        self.metrics = Metrics(new_registry())
        catalog = Catalog({e.name: e for e in entries}, {"fake"}, 8192)
        self.catalog = catalog
        policy = RetryPolicy(
            first_byte_timeout=5,
            max_retries=max_retries,
            backoff=backoff,
            backoff_max=8 * backoff,
            max_retry_after=max_retry_after,
        )

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        self.dispatcher = Dispatcher(
            catalog,
            {"fake": self.provider},
            Cooldowns(5.0, 3, self.clock),
            RateBudgets(self.clock),
            self.metrics,
            policy,
            sleep=sleep,
        )

    async def served_by(self, model: str, prompt_tokens: int = 10, **body: Any) -> str:
        request = ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "x"}], **body})
        opened = await self.dispatcher.open(request, self.catalog.entries[model], prompt_tokens)
        first = opened.first[0]
        assert isinstance(first, TextDelta)
        await opened.rest.aclose()
        return first.text


def entry(name: str, *fallbacks: str, window: int = 8192, rpm: int | None = None) -> ModelEntry:
    return ModelEntry(name, "fake", name, window, fallbacks=fallbacks, rpm=rpm)


def value(counter: Any, *labels: str) -> float:
    return float(counter.labels(*labels)._value.get())


async def test_a_failing_deployment_is_retried_then_the_fallback_serves():
    harness = Harness([entry("a", "b"), entry("b")])
    harness.provider.failures["a"] = [ProxyError("server", "boom")]
    assert await harness.served_by("a") == "b"
    assert harness.provider.calls == ["a", "a", "a", "b"]
    assert value(harness.metrics.fallbacks, "a", "b") == 1


async def test_a_retry_waits_at_least_the_retry_after():
    harness = Harness([entry("a")])
    harness.provider.failures["a"] = [ProxyError("unavailable", "busy", retry_after=2.5), None]
    assert await harness.served_by("a") == "a"
    assert harness.sleeps == [2.5]


async def test_the_backoff_doubles_per_retry_with_jitter_and_each_retry_is_counted():
    harness = Harness([entry("a")], max_retries=3, backoff=1.0)
    harness.provider.failures["a"] = [ProxyError("server", "boom")] * 3 + [None]
    assert await harness.served_by("a") == "a"
    first, second, third = harness.sleeps
    assert 1.0 <= first <= 2.0
    assert 2.0 <= second <= 3.0
    assert 4.0 <= third <= 5.0
    assert value(harness.metrics.retries, "a", "fake") == 3


async def test_a_retry_after_beyond_the_limit_is_not_waited_for():
    harness = Harness([entry("a")], max_retry_after=1.0)
    harness.provider.failures["a"] = [ProxyError("rate_limit", "slow down", retry_after=30)]
    with pytest.raises(ProxyError) as caught:
        await harness.served_by("a")
    assert caught.value.retry_after == 30
    assert harness.provider.calls == ["a"]


async def test_a_429_moves_to_the_fallback_at_once_and_cools_the_deployment_down():
    harness = Harness([entry("a", "b"), entry("b")])
    harness.provider.failures["a"] = [ProxyError("rate_limit", "slow down", retry_after=1)]
    assert await harness.served_by("a") == "b"
    assert await harness.served_by("a") == "b"
    assert harness.provider.calls == ["a", "b", "b"]
    assert value(harness.metrics.cooldowns, "a", "fake") == 1
    harness.clock.now += 5.1
    assert await harness.served_by("a") == "b"
    assert harness.provider.calls[-2:] == ["a", "b"]


async def test_upstream_calls_stay_within_one_plus_retries_per_request_under_a_429_burst():
    harness = Harness([entry("a", "b"), entry("b")])
    harness.provider.failures["a"] = [ProxyError("rate_limit", "slow down")]
    for _ in range(20):
        assert await harness.served_by("a") == "b"
    assert len(harness.provider.calls) <= (1 + 2) * 20
    assert harness.provider.calls.count("a") == 1


async def test_repeated_failures_start_a_cooldown():
    harness = Harness([entry("a", "b"), entry("b")], max_retries=0)
    harness.provider.failures["a"] = [ProxyError("server", "boom")]
    for _ in range(4):
        await harness.served_by("a")
    assert harness.provider.calls.count("a") == 3


async def test_the_only_deployment_is_still_tried_while_cooling_down():
    harness = Harness([entry("a")], max_retries=0)
    harness.provider.failures["a"] = [ProxyError("rate_limit", "slow down"), None]
    with pytest.raises(ProxyError):
        await harness.served_by("a")
    assert await harness.served_by("a") == "a"


async def test_a_bad_request_is_not_retried_nor_sent_to_the_fallback():
    harness = Harness([entry("a", "b"), entry("b")])
    harness.provider.failures["a"] = [ProxyError("bad_request", "no")]
    with pytest.raises(ProxyError) as caught:
        await harness.served_by("a")
    assert caught.value.status == 400
    assert harness.provider.calls == ["a"]


async def test_a_prompt_too_long_for_the_primary_goes_to_a_larger_fallback():
    harness = Harness([entry("small", "large", window=1000), entry("large", window=100000)])
    assert await harness.served_by("small", prompt_tokens=5000) == "large"
    assert harness.provider.calls == ["large"]


async def test_a_prompt_that_fits_nowhere_gets_needed_and_available_counts():
    harness = Harness([entry("small", "medium", window=1000), entry("medium", window=2000)])
    with pytest.raises(ProxyError) as caught:
        await harness.served_by("small", prompt_tokens=1900, max_tokens=500)
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.extra == {"needed_tokens": 2400, "available_tokens": 2000}
    assert harness.provider.calls == []


async def test_an_upstream_context_window_error_falls_back():
    harness = Harness([entry("a", "b"), entry("b")])
    harness.provider.failures["a"] = [ProxyError("context_window", "too long")]
    assert await harness.served_by("a") == "b"
    assert harness.provider.calls == ["a", "b"]


async def test_the_rpm_budget_sends_overflow_to_the_fallback_then_refuses():
    harness = Harness([entry("a", "b", rpm=1), entry("b", rpm=1)])
    assert await harness.served_by("a") == "a"
    assert await harness.served_by("a") == "b"
    with pytest.raises(ProxyError) as caught:
        await harness.served_by("a")
    assert caught.value.status == 429
    assert caught.value.retry_after == pytest.approx(60.0)
    harness.clock.now += 60
    assert await harness.served_by("a") == "a"


class RacedBudgets(RateBudgets):
    """Budgets another replica used up after this one looked: ``wait`` says yes, ``take`` refuses (``names``)."""

    def __init__(self, clock: FakeClock, names: set[str]) -> None:
        super().__init__(clock)
        self.names = names

    async def take(self, name: str, rpm: int | None, tpm: int | None, tokens: int) -> None:
        if name in self.names:
            raise BudgetExhausted(name, 42.0)
        await super().take(name, rpm, tpm, tokens)


async def test_a_budget_refused_at_the_last_moment_falls_back_or_answers_429_without_retrying():
    harness = Harness([entry("a", "b", rpm=5), entry("b", rpm=5)])
    harness.dispatcher._budgets = RacedBudgets(harness.clock, {"a"})
    assert await harness.served_by("a") == "b"
    harness.dispatcher._budgets = RacedBudgets(harness.clock, {"a", "b"})
    with pytest.raises(ProxyError) as caught:
        await harness.served_by("a")
    assert (caught.value.status, caught.value.retry_after) == (429, 42.0)
    assert harness.provider.calls == ["b"]  # a refused budget never reaches the provider
    assert harness.sleeps == []  # nor waits for a retry
