"""``ticket_frames``: the SSE bytes of one request, written straight from the follower's queue."""

from __future__ import annotations

import asyncio

from agent_runtime.api.stream import ticket_frames
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.runs.engine import Ticket


def ticket(done_seq: int | None = None) -> Ticket:
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    if done_seq is not None:
        done.set_result(done_seq)
    return Ticket(done)


async def test_chunks_already_waiting_go_out_as_one_write_that_ends_with_the_done() -> None:
    fanout = SessionFanout()
    follower = fanout.follow("s")
    for seq in (1, 2, 3):
        fanout.publish("s", seq, b'{"n":%d}' % seq)
    fanout.publish("s", 4, b"{}")  # after this request's done: not its own
    writes = [w async for w in ticket_frames(follower, ticket(done_seq=3), interval=60)]
    assert writes == [b'id: 1\ndata: {"n":1}\n\nid: 2\ndata: {"n":2}\n\nid: 3\ndata: {"n":3}\n\n']


async def test_a_quiet_stream_gets_a_heartbeat_then_its_chunks() -> None:
    fanout = SessionFanout()
    follower = fanout.follow("s")
    pending = ticket()
    frames = ticket_frames(follower, pending, interval=0.05)
    assert await anext(frames) == b": keep-alive\n\n"
    pending.done.set_result(7)
    fanout.publish("s", 7, b"{}")
    assert await anext(frames) == b"id: 7\ndata: {}\n\n"
    assert [w async for w in frames] == []


async def test_a_follower_cut_off_ends_the_stream_after_what_it_holds() -> None:
    fanout = SessionFanout()
    follower = fanout.follow("s")
    fanout.publish("s", 1, b"{}")
    fanout.publish("s", -1, b"")  # the fan-out's "stop": the reader resumes from the log
    writes = [w async for w in ticket_frames(follower, ticket(), interval=60)]
    assert writes == [b"id: 1\ndata: {}\n\n"]
