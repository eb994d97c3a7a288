import asyncio
from collections.abc import AsyncIterator

from service_kit.sse import HEARTBEAT, SSEDecoder, encode, with_heartbeats


def test_an_event_split_at_every_byte_decodes_whole() -> None:
    wire = encode('{"t":"héllo ✓"}'.encode(), event_id=7) + HEARTBEAT + encode(b"[DONE]")
    decoder = SSEDecoder()
    events = [e for i in range(len(wire)) for e in decoder.feed(wire[i : i + 1])]
    assert [(e.id, e.data) for e in events] == [("7", '{"t":"héllo ✓"}'.encode()), (None, b"[DONE]")]
    assert decoder.pending == b""


def test_crlf_line_endings_split_between_chunks_are_understood() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 1\r\ndata: a\r") == []
    assert [(e.id, e.data) for e in decoder.feed(b"\n\r\n")] == [("1", b"a")]


def test_multi_line_data_is_joined_with_newlines_and_event_names_are_kept() -> None:
    [event] = SSEDecoder().feed(b"event: error\ndata: one\ndata: two\n\n")
    assert (event.event, event.data) == ("error", b"one\ntwo")


def test_an_unfinished_event_stays_pending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: partial") == []
    assert decoder.pending == b"data: partial"


async def test_heartbeats_fill_silences_without_disturbing_the_source() -> None:
    async def slow() -> AsyncIterator[bytes]:
        yield b"a"
        await asyncio.sleep(0.25)
        yield b"b"

    items = [item async for item in with_heartbeats(slow(), 0.05, HEARTBEAT)]
    assert items[0] == b"a"
    assert items[-1] == b"b"
    assert HEARTBEAT in items[1:-1]
    assert set(items[1:-1]) == {HEARTBEAT}
