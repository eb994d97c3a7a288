"""Server-Sent Events: the encoder the services emit with, and the incremental decoder they read with.

The decoder works on raw bytes as they arrive from the socket, so a reader never waits for more than one event
and never splits a UTF-8 sequence (events are split on blank lines before anything is decoded).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TypeVar

from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

HEARTBEAT = b": keep-alive\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

T = TypeVar("T")


def encode(data: bytes, *, event_id: int | str | None = None, event: str | None = None) -> bytes:
    """One SSE event. ``data`` must be a single line (compact JSON is)."""
    head = b""
    if event_id is not None:
        head += b"id: %s\n" % str(event_id).encode()
    if event is not None:
        head += b"event: %s\n" % event.encode()
    return head + b"data: " + data + b"\n\n"


@dataclass(slots=True)
class ServerSentEvent:
    data: bytes
    id: str | None = None
    event: str | None = None


class SSEDecoder:
    """Feed bytes in any split; get complete events out. Comments (heartbeats) are skipped."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            if buffer.endswith(b"\r"):  # a CRLF may be split across chunks: wait for its LF
                self._buffer = buffer
                return []
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *blocks, self._buffer = buffer.split(b"\n\n")
        events = []
        for block in blocks:
            if block.startswith(b"data: ") and b"\n" not in block:  # the usual event: one data line, nothing else
                events.append(ServerSentEvent(block[6:]))
                continue
            event = _parse_block(block)
            if event is not None:
                events.append(event)
        return events

    @property
    def pending(self) -> bytes:
        """Bytes received after the last complete event (non-empty at EOF means a truncated stream)."""
        return self._buffer


def _parse_block(block: bytes) -> ServerSentEvent | None:
    data: list[bytes] = []
    event_id = event = None
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"id":
            event_id = value.decode()
        elif field == b"event":
            event = value.decode()
    if not data and event_id is None and event is None:
        return None
    return ServerSentEvent(b"\n".join(data), event_id, event)


async def with_heartbeats(source: AsyncIterator[T], interval: float, beat: T) -> AsyncIterator[T]:
    """Yield ``source``'s items, and ``beat`` whenever ``interval`` seconds pass without one.

    The pending ``__anext__`` is never cancelled by a heartbeat, so the source generator is not disturbed.
    """
    iterator = aiter(source)
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait((pending,), timeout=interval)
            if not done:
                yield beat
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            finally:
                pending = None
            yield item
    finally:
        if pending is not None:
            pending.cancel()


def event_stream_response(
    body: AsyncIterator[bytes] | Iterator[bytes], *, background: BackgroundTask | None = None
) -> StreamingResponse:
    """A ``text/event-stream`` response with the headers proxies need to not buffer it."""
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS, background=background)
