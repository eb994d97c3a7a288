"""Cooldowns and budgets shared through the real Redis: replicas in one process (each its own client and link),
a Redis that is unreachable from the start, and one lost mid-way behind a fault relay (``chaos_relay.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from llm_proxy.capacity import BudgetExhausted, RateBudgets
from llm_proxy.shared_capacity import SharedCapacity
from tests.conftest import RelayProcess, Replica


async def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait (bounded) until ``condition()`` holds: for what travels through Redis to another link."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


def gauge(shared: SharedCapacity) -> float:
    return float(shared.link._metrics.shared_state_up._value.get())


def outages(shared: SharedCapacity) -> float:
    return float(shared.link._metrics.shared_state_outages._value.get())


async def taken(budgets: RateBudgets, name: str, rpm: int | None, tpm: int | None, tokens: int) -> bool:
    """Whether ``budgets`` let one request through."""
    try:
        await budgets.take(name, rpm, tpm, tokens)
    except BudgetExhausted:
        return False
    return True


async def test_two_replicas_share_one_rpm_budget(replica: Replica) -> None:
    async with replica() as a, replica() as b:
        assert a.link.up
        assert b.link.up
        results = [await taken(one.budgets, "m", 10, None, 5) for one in (a, b) * 10]
        assert results == [True] * 10 + [False] * 10
        with pytest.raises(BudgetExhausted) as refused:
            await b.budgets.take("m", 10, None, 5)
        assert refused.value.status == 429
        assert 50 < (refused.value.retry_after or 0) <= 60
        # Each replica's local view follows the shared window, so its next choice skips the deployment at once.
        assert a.budgets.wait("m", 10, None, 5) > 50
        assert a.link.up
        assert b.link.up


async def test_two_replicas_share_one_tpm_budget(replica: Replica) -> None:
    async with replica() as a, replica() as b:
        await a.budgets.take("m", None, 1000, 600)
        with pytest.raises(BudgetExhausted):
            await b.budgets.take("m", None, 1000, 600)
        await b.budgets.take("m", None, 1000, 400)
        with pytest.raises(BudgetExhausted):
            await a.budgets.take("m", None, 1000, 1)


async def test_a_cooldown_started_on_one_replica_reaches_the_others(replica: Replica) -> None:
    async with replica() as a, replica() as b:
        assert a.cooldowns.failed("gpt", rate_limited=True, retry_after=30.0) is True
        await eventually(lambda: b.cooldowns.remaining("gpt") > 0)
        assert 25 < b.cooldowns.remaining("gpt") <= 30
        assert a.cooldowns.remaining("other") == b.cooldowns.remaining("other") == 0.0
        # A shorter cooldown elsewhere never shortens it.
        b.cooldowns.failed("gpt", rate_limited=True, retry_after=1.0)
        await eventually(lambda: a.cooldowns.remaining("gpt") > 25 and len(a.link._tasks) == 0)
        assert a.cooldowns.remaining("gpt") > 25


async def test_a_replica_that_starts_later_reads_the_cooldowns_back(replica: Replica) -> None:
    async with replica() as a:
        a.cooldowns.failed("gpt", rate_limited=True, retry_after=20.0)
        await eventually(lambda: not a.link._tasks)
        async with replica() as late:
            assert 15 < late.cooldowns.remaining("gpt") <= 20


async def test_an_unreachable_redis_means_per_process_limits_one_log_line_and_a_metric(
    replica: Replica, unused_tcp_port: int
) -> None:
    with capture_logs() as logs:
        async with replica(url=f"redis://127.0.0.1:{unused_tcp_port}/0") as alone:
            assert not alone.link.up
            assert gauge(alone) == 0
            assert outages(alone) == 1
            assert [await taken(alone.budgets, "m", 2, None, 1) for _ in range(3)] == [True, True, False]
            alone.cooldowns.failed("gpt", rate_limited=True, retry_after=9.0)
            assert alone.cooldowns.remaining("gpt") > 8
            await asyncio.sleep(0)  # lets the background share run (and find Redis down)
    warnings = [entry for entry in logs if entry["event"] == "shared_state_unreachable"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"


async def test_redis_lost_mid_way_degrades_within_the_timeout_and_comes_back(
    replica: Replica, redis_relay: RelayProcess
) -> None:
    with capture_logs() as logs:
        async with replica(url=f"redis://127.0.0.1:{redis_relay.port}/0", redis_timeout_s=0.25) as a, replica() as b:
            await a.budgets.take("m", 3, None, 1)
            await a.budgets.take("m", 3, None, 1)  # 2 of 3 spent in the shared window

            await redis_relay.set_mode("blackhole")  # Redis stops answering; its connections stay open
            started = time.perf_counter()
            await a.budgets.take("m", 3, None, 1)  # answered per process after at most the timeout
            lost = time.perf_counter() - started
            assert not a.link.up
            assert gauge(a) == 0
            assert outages(a) == 1
            assert lost < 2.0  # the client's own socket timeout would be 5 s
            started = time.perf_counter()
            with pytest.raises(BudgetExhausted):  # per process, counted on from the shared window it saw last
                await a.budgets.take("m", 3, None, 1)
            assert time.perf_counter() - started < 0.1  # a link known down is not asked again
            a.cooldowns.failed("gpt", rate_limited=True, retry_after=40.0)  # started while Redis is away
            assert b.link.up
            assert b.cooldowns.remaining("gpt") == 0.0

            await redis_relay.set_mode("pass")
            assert await a.link.wait_up(10.0)
            assert gauge(a) == 1
            # Back: the cooldown started while apart reached Redis and the other replica.
            await eventually(lambda: b.cooldowns.remaining("gpt") > 30)
            await b.budgets.take("m", 3, None, 1)  # the third of the shared window (a's outage request was local)
            with pytest.raises(BudgetExhausted):
                await b.budgets.take("m", 3, None, 1)
    assert [entry["event"] for entry in logs].count("shared_state_unreachable") == 1
    assert [entry["event"] for entry in logs].count("shared_state_reachable") == 3  # a, b, then a again


async def test_a_redis_that_resets_every_connection_is_survived(replica: Replica, redis_relay: RelayProcess) -> None:
    async with replica(url=f"redis://127.0.0.1:{redis_relay.port}/0", redis_timeout_s=0.25) as a:
        await redis_relay.set_mode("reset")
        results = [await taken(a.budgets, "m", 100, None, 1) for _ in range(5)]
        assert results == [True] * 5
        assert not a.link.up
        assert outages(a) == 1
        await redis_relay.set_mode("pass")
        assert await a.link.wait_up(10.0)
        assert outages(a) == 1
