import asyncio
from datetime import UTC, datetime

from agent_runtime.application.fanout import MAX_BACKLOG, SessionFanout
from agent_runtime.application.ports import LoggedEvent
from agent_runtime.application.replay import replay_and_follow
from tests.fakes import FakeUnitOfWorkFactory

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def seeded(count: int) -> FakeUnitOfWorkFactory:
    uows = FakeUnitOfWorkFactory()
    uows.store.events["s"] = [LoggedEvent(i, "done", b'{"n":%d}' % i, NOW) for i in range(1, count + 1)]
    return uows


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
