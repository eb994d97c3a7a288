"""The cross-replica relay on the real PostgreSQL: two fan-outs, each with its own relay, as two replicas have."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest

from agent_runtime.application.event_bus import Envelope
from agent_runtime.application.fanout import Follower, Item, SessionFanout
from agent_runtime.application.replay import replay_and_follow
from agent_runtime.domain.events import SessionEventAppended
from agent_runtime.infrastructure import pg_fanout
from agent_runtime.infrastructure.pg_fanout import MAX_PAYLOAD, PgRelay, asyncpg_dsn, channel
from tests.fakes import FakeUnitOfWorkFactory

pytestmark = pytest.mark.timeout(30)

LOGGED: dict[tuple[str, int], bytes] = {}


async def logged(session_id: str, seq: int) -> bytes | None:
    return LOGGED.get((session_id, seq))


class Leases:
    """Who runs which session's turn, as the writer lock's leases say; records the catch-up requests answered."""

    def __init__(self) -> None:
        self.here: set[str] = set()
        self.elsewhere: dict[str, str] = {}  # session → the other replica holding its lease
        self.asked: list[str] = []

    def holds(self, session_id: str) -> bool:
        self.asked.append(session_id)
        return session_id in self.here

    async def holder_elsewhere(self, session_id: str) -> str | None:
        return self.elsewhere.get(session_id)


class Replica:
    def __init__(self, dsn: str) -> None:
        self.fanout = SessionFanout()
        self.leases = Leases()
        self.relay = PgRelay(dsn, self.fanout, logged, leases=self.leases, linger=0.5, retry=0.1)
        self.fanout.use_relay(self.relay)
        self.cancelled: list[str] = []
        self.relay.on_cancel = self.cancelled.append


@pytest.fixture
async def dsn(postgres_url: str) -> str:
    return asyncpg_dsn(postgres_url.replace("postgresql://", "postgresql+asyncpg://"))


@pytest.fixture
async def replicas(dsn: str) -> AsyncIterator[tuple[Replica, Replica]]:
    a, b = Replica(dsn), Replica(dsn)
    await a.relay.start()
    await b.relay.start()
    await until(lambda: a.relay.up and b.relay.up)  # both listen (to the cancel channel) before a test sends anything
    try:
        yield a, b
    finally:
        await a.relay.aclose()
        await b.relay.aclose()


async def until(condition: Callable[[], object], seconds: float = 10) -> None:
    """Wait until ``condition()`` holds; fail after ``seconds`` (a bound for a loaded machine, not a pause)."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.02)


async def take(follower: Follower, count: int) -> list[Item]:
    return [await asyncio.wait_for(follower.queue.get(), 5) for _ in range(count)]


def chunk(text: str) -> bytes:
    return orjson.dumps({"type": "token", "content": text})


async def publish_durable(replica: Replica, session_id: str, seq: int, data: bytes) -> None:
    """What the event bus does after a commit."""
    event = SessionEventAppended(session_id=session_id, seq=seq, data=data, occurred_at=datetime.now(UTC))
    await replica.fanout.on_event(Envelope(event, "e", "c", None))


async def test_a_follower_on_another_replica_receives_the_chunks_in_order_and_only_once(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    here = a.fanout.follow("s1")
    there = b.fanout.follow("s1")
    await a.fanout.ready("s1")
    await b.fanout.ready("s1")
    a.fanout.publish_live("s1", 5, chunk("Hel"))
    a.fanout.publish_live("s1", 6, chunk("lo"))
    await publish_durable(a, "s1", 7, b'{"type":"message","content":"Hello"}')
    a.fanout.publish_live("s1", 8, b'{"type":"done"}', ends_turn=True)

    expected = [
        (5, chunk("Hel")),
        (6, chunk("lo")),
        (7, b'{"type":"message","content":"Hello"}'),
        (8, b'{"type":"done"}'),
    ]
    assert await take(there, 4) == expected
    assert await take(here, 4) == expected
    await asyncio.sleep(0.2)
    assert here.queue.empty()
    assert there.queue.empty()
    assert b.fanout.kept("s1") == 0  # the durable chunk and the done settled what b kept for resuming readers


async def test_a_reader_joining_on_another_replica_mid_turn_gets_the_deltas_kept_there(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    first = b.fanout.follow("s2")
    await b.fanout.ready("s2")
    a.fanout.publish_live("s2", 1, chunk("a"))
    a.fanout.publish_live("s2", 2, chunk("b"))
    await take(first, 2)
    second, kept = b.fanout.follow_turn("s2")
    assert kept == [(1, chunk("a")), (2, chunk("b"))]
    b.fanout.leave("s2", first)
    b.fanout.leave("s2", second)
    assert b.fanout.kept("s2") == 0  # relayed chunks are dropped with the last follower here


async def test_a_durable_chunk_over_the_notification_limit_is_read_from_the_log_in_its_place(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    there = b.fanout.follow("s3")
    await b.fanout.ready("s3")
    big = orjson.dumps({"type": "message", "content": "x" * (MAX_PAYLOAD * 2)})
    LOGGED[("s3", 10)] = big
    await publish_durable(a, "s3", 10, big)
    a.fanout.publish_live("s3", 11, chunk("after"))
    assert await take(there, 2) == [(10, big), (11, chunk("after"))]


async def test_cancel_reaches_the_other_replicas_not_the_sender(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    a.relay.cancel("s4")
    await until(lambda: b.cancelled)
    assert b.cancelled == ["s4"]
    assert a.cancelled == []


async def test_a_lost_listening_connection_ends_the_followers_and_the_relay_listens_again(
    replicas: tuple[Replica, Replica], dsn: str
) -> None:
    a, b = replicas
    there = b.fanout.follow("s5")
    await b.fanout.ready("s5")
    admin = await asyncpg.connect(dsn)
    try:
        listeners = await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        assert listeners
        for row in listeners:  # both replicas' listening connections, as a database restart would
            await admin.execute("SELECT pg_terminate_backend($1)", row["pid"])
    finally:
        await admin.close()
    assert await take(there, 1) == [(-1, b"")]  # the reader ends and resumes from the log
    await b.fanout.ready("s5")
    await until(lambda: b.relay.up)
    a.fanout.publish_live("s5", 3, chunk("again"))
    assert await take(there, 1) == [(3, chunk("again"))]


def runs_on(owner: Replica, other: Replica, session_id: str) -> None:
    owner.leases.here.add(session_id)
    other.leases.elsewhere[session_id] = "owner"


async def test_a_reader_joining_on_a_replica_that_was_not_listening_gets_the_turn_so_far_in_order_once(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    runs_on(a, b, "c1")
    text = "é" * 60  # multi-byte: the answer's batches are cut by bytes, its items by characters
    for seq in range(1, 301):  # about 40 kB: the answer takes several notifications
        a.fanout.publish_live("c1", seq, chunk(f"{seq}{text}"))
    reader = replay_and_follow(FakeUnitOfWorkFactory(), b.fanout, "c1", 0)
    first = asyncio.ensure_future(anext(reader))
    await until(lambda: a.leases.asked)  # b listens and asked a: the deltas from now on are relayed too
    a.fanout.publish_live("c1", 301, chunk("301"))
    got = [await asyncio.wait_for(first, 5)]
    got += [await asyncio.wait_for(anext(reader), 5) for _ in range(300)]
    assert [seq for seq, _ in got] == list(range(1, 302))
    assert got[0] == (1, chunk(f"1{text}"))
    assert got[299] == (300, chunk(f"300{text}"))
    assert b.fanout.kept("c1") == 301  # a second reader here gets the turn from this replica, not by asking again
    a.fanout.publish_live("c1", 302, b'{"type":"done"}', ends_turn=True)
    assert await asyncio.wait_for(anext(reader), 5) == (302, b'{"type":"done"}')
    await reader.aclose()


async def test_no_catch_up_is_asked_when_no_other_replica_runs_the_session(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    b.fanout.follow("c2")
    assert await b.fanout.ready("c2") == []
    b.relay.cancel("marker")  # on the same connection as a catch-up request would have been, after it
    await until(lambda: a.cancelled)
    assert a.leases.asked == []


async def test_a_lease_holder_that_does_not_answer_delays_a_reader_by_the_catch_up_timeout_only(
    replicas: tuple[Replica, Replica], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = replicas
    monkeypatch.setattr(pg_fanout, "CATCH_UP_TIMEOUT", 0.3)
    b.leases.elsewhere["c3"] = "stalled"  # its lease is renewed, it answers nothing
    b.fanout.follow("c3")
    async with asyncio.timeout(5):
        assert await b.fanout.ready("c3") == []
    await until(lambda: a.leases.asked)  # a was asked and does not hold the lease: it did not answer


async def test_a_reader_waiting_for_a_dead_holder_asks_the_replica_that_took_the_turn_over(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    b.leases.elsewhere["c4"] = "dead"  # killed: its lease runs until it expires, it answers nothing
    a.fanout.publish_live("c4", 7, chunk("reset"))  # a takes the turn over: its kept chunks start again
    a.fanout.publish_live("c4", 8, chunk("new"))
    b.fanout.follow("c4")
    waiting = asyncio.ensure_future(b.fanout.ready("c4"))
    await until(lambda: a.leases.asked == ["c4"])  # asked once; a does not hold the lease yet
    runs_on(a, b, "c4")  # the lease expired and a took it
    async with asyncio.timeout(pg_fanout.CATCH_UP_TIMEOUT - 1):  # long before the reader would give up
        assert await waiting == [(7, chunk("reset")), (8, chunk("new"))]


async def test_a_reader_waiting_for_a_dead_holder_goes_on_once_its_lease_expired(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    b.leases.elsewhere["c5"] = "dead"
    b.fanout.follow("c5")
    waiting = asyncio.ensure_future(b.fanout.ready("c5"))
    await until(lambda: a.leases.asked)
    del b.leases.elsewhere["c5"]  # expired, nobody took it yet: whatever comes next is live here
    async with asyncio.timeout(pg_fanout.CATCH_UP_TIMEOUT - 1):
        assert await waiting == []


def test_a_session_channel_is_a_short_identifier() -> None:
    name = channel("x" * 64)
    assert len(name) <= 63
    assert name.isidentifier()
    assert channel("a") != channel("b")
