import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from agent_runtime.application.event_bus import Envelope
from agent_runtime.application.fanout import MAX_BACKLOG, SessionFanout
from agent_runtime.application.ports import LoggedEvent
from agent_runtime.application.replay import replay_and_follow
from agent_runtime.domain.events import SessionEventAppended
from tests.fakes import FakeUnitOfWorkFactory

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def seeded(count: int) -> FakeUnitOfWorkFactory:
    uows = FakeUnitOfWorkFactory()
    uows.store.events["s"] = [LoggedEvent(i, "done", b'{"n":%d}' % i, NOW) for i in range(1, count + 1)]
    return uows


async def publish_durable(fanout: SessionFanout, uows: FakeUnitOfWorkFactory, seq: int) -> None:
    data = b'{"durable":%d}' % seq
    uows.store.events.setdefault("s", []).append(LoggedEvent(seq, "assistant_message", data, NOW))
    event = SessionEventAppended(session_id="s", occurred_at=NOW, seq=seq, data=data)
    await fanout.on_event(Envelope(event, "e", "c", None))


def delta(fanout: SessionFanout, seq: int) -> None:
    fanout.publish_live("s", seq, b'{"delta":%d}' % seq)


class LogReadWhileTheTurnGoesOn:
    """A read-only unit of work whose log read lets the turn go on (``during_read``) before it answers, like a
    slow database read racing the running turn."""

    def __init__(self, events: list[LoggedEvent], during_read: Callable[[], None]) -> None:
        self.log = events
        self.during_read: Callable[[], None] | None = during_read
        self.events = self

    def __call__(self, *, write: bool = True) -> "LogReadWhileTheTurnGoesOn":
        return self

    async def __aenter__(self) -> "LogReadWhileTheTurnGoesOn":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def after(self, session_id: str, seq: int, limit: int) -> list[LoggedEvent]:
        if self.during_read is not None:
            self.during_read()
            self.during_read = None
        return [e for e in self.log if e.seq > seq][:limit]


async def test_replay_serves_the_log_after_the_cursor_then_live_events_without_duplicates() -> None:
    uows = seeded(3)
    fanout = SessionFanout()
    stream = replay_and_follow(uows, fanout, "s", 1)
    got = [await anext(stream), await anext(stream)]
    fanout.publish("s", 3, b"dup")  # already replayed: dropped
    fanout.publish("s", 4, b"live")
    got.append(await asyncio.wait_for(anext(stream), 2))
    assert [seq for seq, _ in got] == [2, 3, 4]
    await stream.aclose()
    assert fanout.followers("s") == 0


async def test_a_reader_resuming_mid_turn_gets_the_kept_deltas_after_its_cursor_then_the_rest_live() -> None:
    uows = seeded(1)
    fanout = SessionFanout()
    for seq in range(2, 7):
        delta(fanout, seq)
    stream = replay_and_follow(uows, fanout, "s", 3)
    got = [await anext(stream) for _ in range(3)]
    delta(fanout, 7)
    got.append(await asyncio.wait_for(anext(stream), 2))
    await publish_durable(fanout, uows, 8)
    got.append(await asyncio.wait_for(anext(stream), 2))
    assert got == [*[(seq, b'{"delta":%d}' % seq) for seq in range(4, 8)], (8, b'{"durable":8}')]
    await stream.aclose()


async def test_deltas_published_while_the_log_is_read_are_merged_in_seq_order_without_duplicates() -> None:
    fanout = SessionFanout()
    events = [LoggedEvent(1, "agent_switched", b"switch", NOW)]
    delta(fanout, 2)
    delta(fanout, 3)

    def turn_goes_on() -> None:
        delta(fanout, 4)
        delta(fanout, 5)
        events.append(LoggedEvent(6, "assistant_message", b"final", NOW))  # committed, then published
        fanout.publish("s", 6, b"final")

    uows = LogReadWhileTheTurnGoesOn(events, turn_goes_on)
    stream = replay_and_follow(uows, fanout, "s", 2)  # type: ignore[arg-type]
    got = [await anext(stream) for _ in range(4)]
    fanout.publish("s", 7, b"done")
    got.append(await asyncio.wait_for(anext(stream), 2))
    assert [seq for seq, _ in got] == [3, 4, 5, 6, 7]
    await stream.aclose()


async def test_a_durable_chunk_drops_the_kept_chunks_before_it() -> None:
    uows = seeded(1)
    fanout = SessionFanout()
    delta(fanout, 2)
    delta(fanout, 3)
    await publish_durable(fanout, uows, 4)
    assert fanout.kept("s") == 0
    stream = replay_and_follow(uows, fanout, "s", 2)
    assert [await anext(stream)] == [(4, b'{"durable":4}')]  # the final message carries the deltas' text
    await stream.aclose()


async def test_a_done_that_is_not_logged_ends_the_kept_chunks() -> None:
    fanout = SessionFanout()
    fanout.publish_live("s", 5, b"status")
    assert fanout.kept("s") == 1
    fanout.publish_live("s", 6, b"done", ends_turn=True)
    assert fanout.kept("s") == 0


async def test_replay_pages_through_a_long_log() -> None:
    uows = seeded(1200)
    stream = replay_and_follow(uows, SessionFanout(), "s", 0)
    seqs = [(await anext(stream))[0] for _ in range(1200)]
    assert seqs == list(range(1, 1201))
    await stream.aclose()


async def test_a_follower_that_falls_too_far_behind_is_cut_off() -> None:
    fanout = SessionFanout()
    follower = fanout.follow("s")
    for seq in range(1, MAX_BACKLOG + 5):
        fanout.publish("s", seq, b"x")
    assert follower.overflowed
    drained = [follower.queue.get_nowait()[0] for _ in range(follower.queue.qsize())]
    assert drained[-1] == -1
