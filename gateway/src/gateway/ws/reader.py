"""Running one accepted socket, whatever its protocol: the reader with the transport limits, and the close.

The reader task only reads, checks and hands each text frame on, so it is always ready for the next one while the
channel's other tasks work. Transport-level violations end the socket with their code (1009 too big, 1008 flood,
1003 binary where a protocol refuses binary frames); what a text frame says is the protocol's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog
from starlette.websockets import WebSocket

from gateway.context import GatewayContext
from gateway.ws.channel import Channel
from gateway.ws.closes import CLOSE_INTERNAL, CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_UNSUPPORTED, Closing

_log = structlog.get_logger(__name__)

CLOSE_TIMEOUT = 2.0

TextHandler = Callable[[str], None]
"""Takes one text frame; never blocks (the reader must keep reading)."""


class FrameRate:
    """Inbound flood control, a token bucket per socket: allows ``burst`` frames at once and ``per_second``
    sustained; ``allow()`` says whether one more may pass."""

    __slots__ = ("_burst", "_clock", "_last", "_per_second", "_tokens")

    def __init__(self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_second = per_second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def allow(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._per_second)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


async def run_channel(
    websocket: WebSocket, channel: Channel, context: GatewayContext, deliver: TextHandler, *, binary_closes: bool
) -> Closing | None:
    """An accepted socket's whole life: counted as open, read until either side ends it, its tasks stopped, closed
    with the deciding code (None: the client left)."""
    context.live.add(channel)
    context.metrics.active.inc()
    try:
        closing = await serve(websocket, channel, context, deliver, binary_closes=binary_closes)
    finally:
        await channel.stop()
        context.live.discard(channel)
        context.metrics.active.dec()
    if closing is not None:
        await close_socket(websocket, context, closing.code, closing.reason)
    return closing


async def serve(
    websocket: WebSocket, channel: Channel, context: GatewayContext, deliver: TextHandler, *, binary_closes: bool
) -> Closing | None:
    """Read until the client leaves (None) or the gateway decides to close (the ``Closing``)."""
    reader = asyncio.create_task(read_texts(websocket, context, deliver, binary_closes=binary_closes))
    closing: asyncio.Future[Any] = channel.closing  # waited on as is: a task around it weighs on idle sockets
    try:
        await asyncio.wait({reader, closing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        reader.cancel()
    if channel.closing.done():
        return channel.closing.result()
    if reader.cancelled():
        return None
    if reader.exception() is not None:
        _log.error("websocket reader failed", exc_info=reader.exception())
        context.metrics.error("internal")
        return Closing(CLOSE_INTERNAL, "internal error")
    return reader.result()


async def read_texts(
    websocket: WebSocket, context: GatewayContext, deliver: TextHandler, *, binary_closes: bool
) -> Closing | None:
    """Hand every text frame within the limits to ``deliver``; binary frames close (1003) or are skipped."""
    settings, metrics = context.settings, context.metrics
    rate = FrameRate(settings.ws_rate_per_second, settings.ws_rate_burst)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            metrics.closed(int(message.get("code") or 1005))
            return None
        text = message.get("text")
        if text is None and binary_closes:
            return Closing(CLOSE_UNSUPPORTED, "binary frames are not accepted; send JSON text frames")
        limit = settings.ws_max_frame_bytes
        size = len(text) if text is not None else len(message.get("bytes") or b"")
        if size > limit or (text is not None and len(text.encode()) > limit):
            return Closing(CLOSE_TOO_BIG, f"frame larger than {settings.ws_max_frame_bytes} bytes")
        if not rate.allow():
            metrics.error("flood")
            return Closing(CLOSE_POLICY, "too many frames")
        if text is not None:
            deliver(text)


async def close_socket(websocket: WebSocket, context: GatewayContext, code: int, reason: str) -> None:
    context.metrics.closed(code)
    # A slow client may not drain its socket: never let the close wait forever.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code, reason[:120]), CLOSE_TIMEOUT)
