"""The bounded outbound buffer: order kept, deltas coalesced when full, SlowConsumer when it stays full."""

from __future__ import annotations

import asyncio

import pytest

from gateway.ws.outbound import OutboundBuffer, Outgoing, SlowConsumer


def delta(seq: int, token: str) -> Outgoing:
    return Outgoing(
        {"type": "assistant_message", "token": token, "is_final": False, "seq": seq}, "assistant_message", 0.0, True
    )


def final(seq: int) -> Outgoing:
    return Outgoing({"type": "assistant_message", "content": "abc", "is_final": True, "seq": seq}, "assistant_message")


async def test_frames_come_out_in_the_order_they_went_in() -> None:
    buffer = OutboundBuffer(8, stall_timeout=1)
    for n in range(5):
        await buffer.put(delta(n, str(n)))
    assert [(await buffer.get()).frame["seq"] for _ in range(5)] == [0, 1, 2, 3, 4]


async def test_a_full_buffer_merges_adjacent_deltas_keeping_text_and_last_seq() -> None:
    buffer = OutboundBuffer(4, stall_timeout=1)
    for n, token in enumerate("abcdefghij", start=1):
        await buffer.put(delta(n, token))
    assert len(buffer) <= 4
    frames = [(await buffer.get()).frame for _ in range(len(buffer))]
    assert "".join(f["token"] for f in frames) == "abcdefghij"
    assert frames[-1]["seq"] == 10
    assert buffer.coalesced == 10 - len(frames)


async def test_non_delta_frames_are_never_merged_or_dropped() -> None:
    buffer = OutboundBuffer(4, stall_timeout=1)
    await buffer.put(delta(1, "a"))
    await buffer.put(delta(2, "b"))
    await buffer.put(final(3))
    await buffer.put(delta(4, "c"))
    await buffer.put(final(5))  # full: the two leading deltas merge to make room
    frames = [(await buffer.get()).frame for _ in range(len(buffer))]
    assert [(f["seq"], f.get("token")) for f in frames] == [(2, "ab"), (3, None), (4, "c"), (5, None)]


async def test_a_producer_waits_for_room_when_nothing_can_be_merged() -> None:
    buffer = OutboundBuffer(4, stall_timeout=1)
    for n in range(1, 5):
        await buffer.put(final(n))
    producer = asyncio.create_task(buffer.put(final(5)))
    await asyncio.sleep(0)
    assert not producer.done()
    assert (await buffer.get()).frame["seq"] == 1
    await producer
    assert [(await buffer.get()).frame["seq"] for _ in range(len(buffer))] == [2, 3, 4, 5]


async def test_a_buffer_that_stays_full_raises_slow_consumer() -> None:
    buffer = OutboundBuffer(4, stall_timeout=0.05)
    for n in range(4):
        await buffer.put(final(n))
    with pytest.raises(SlowConsumer):
        await buffer.put(final(99))
    assert len(buffer) == 4


async def test_control_frames_are_queued_without_waiting() -> None:
    buffer = OutboundBuffer(4, stall_timeout=0.05)
    for n in range(4):
        await buffer.put(final(n))
    buffer.put_control(Outgoing({"type": "pong"}, "pong"))
    assert len(buffer) == 5


async def test_a_batch_takes_at_most_its_limit_and_leaves_the_rest_in_order() -> None:
    buffer = OutboundBuffer(8, stall_timeout=1)
    for n in range(5):
        await buffer.put(final(n))
    assert [item.frame["seq"] for item in await buffer.get_batch(3)] == [0, 1, 2]
    assert [item.frame["seq"] for item in await buffer.get_batch(3)] == [3, 4]
    assert len(buffer) == 0


async def test_a_waiting_consumer_wakes_for_the_next_frame() -> None:
    buffer = OutboundBuffer(8, stall_timeout=1)
    consumer = asyncio.create_task(buffer.get_batch(8))
    await asyncio.sleep(0)
    assert not consumer.done()
    assert buffer.offer(final(7))
    assert [item.frame["seq"] for item in await asyncio.wait_for(consumer, 5)] == [7]


async def test_offer_refuses_a_frame_when_full_without_merging_it() -> None:
    buffer = OutboundBuffer(2, stall_timeout=1)
    assert buffer.offer(delta(1, "a"))
    assert buffer.offer(delta(2, "b"))
    assert not buffer.offer(delta(3, "c"))
    assert len(buffer) == 2
