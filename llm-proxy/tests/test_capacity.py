"""Cooldowns and rate budgets on a fake clock."""

from __future__ import annotations

import pytest

from llm_proxy.capacity import BudgetExhausted, Cooldowns, RateBudgets


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_429_cools_down_for_at_least_its_retry_after():
    clock = FakeClock()
    cooldowns = Cooldowns(5.0, 3, clock)
    assert cooldowns.failed("a", rate_limited=True, retry_after=8.0) is True
    clock.now += 7.9
    assert cooldowns.remaining("a") > 0
    clock.now += 0.2
    assert cooldowns.remaining("a") == 0.0


def test_failures_below_the_threshold_or_interrupted_by_success_do_not_cool_down():
    cooldowns = Cooldowns(5.0, 3, FakeClock())
    cooldowns.failed("a", rate_limited=False, retry_after=None)
    cooldowns.failed("a", rate_limited=False, retry_after=None)
    cooldowns.succeeded("a")
    assert cooldowns.failed("a", rate_limited=False, retry_after=None) is False
    assert cooldowns.failed("a", rate_limited=False, retry_after=None) is False
    assert cooldowns.failed("a", rate_limited=False, retry_after=None) is True
    assert cooldowns.remaining("a") == 5.0


def test_budgets_count_requests_and_tokens_per_minute():
    clock = FakeClock()
    budgets = RateBudgets(clock)
    budgets.spend("a", 900)
    assert budgets.wait("a", rpm=2, tpm=1000, tokens=50) == 0.0
    assert budgets.wait("a", rpm=2, tpm=1000, tokens=200) == 60.0
    budgets.spend("a", 10)
    clock.now += 30
    assert budgets.wait("a", rpm=2, tpm=None, tokens=1) == 30.0
    clock.now += 30
    assert budgets.wait("a", rpm=2, tpm=1000, tokens=200) == 0.0


def test_a_cooldown_heard_from_another_replica_extends_never_shortens():
    clock = FakeClock()
    cooldowns = Cooldowns(5.0, 3, clock)
    cooldowns.extend("a", 10.0)
    cooldowns.extend("a", 2.0)
    assert cooldowns.remaining("a") == 10.0
    assert cooldowns.cooling() == {"a": 10.0}
    clock.now += 10
    assert cooldowns.cooling() == {}


async def test_take_spends_within_the_budget_and_refuses_beyond_it():
    clock = FakeClock()
    budgets = RateBudgets(clock)
    await budgets.take("a", 1, None, 10)
    with pytest.raises(BudgetExhausted) as refused:
        await budgets.take("a", 1, None, 10)
    assert (refused.value.status, refused.value.retry_after, refused.value.retryable) == (429, 60.0, False)


def test_a_mirrored_window_counts_what_the_other_replicas_spent():
    clock = FakeClock()
    budgets = RateBudgets(clock)
    budgets.mirror("a", requests=9, tokens=500, seconds_left=20.0)
    assert budgets.wait("a", rpm=10, tpm=None, tokens=1) == 0.0
    budgets.spend("a", 1)
    assert budgets.wait("a", rpm=10, tpm=None, tokens=1) == 20.0
