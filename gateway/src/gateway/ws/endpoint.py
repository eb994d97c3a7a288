"""``/api/v1/ws/{session_id}`` (and ``/ws/{session_id}``): admission, the reader, and the close.

The reader task only reads, checks and hands frames to the connection, so it is always ready for the next frame
(``cancel``, ``ping``, a queued ``user_message``) while turns stream. Transport-level violations end the socket
with their code (1003 binary, 1009 too big, 1008 flood); a bad JSON frame only gets an ``error`` frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from starlette.websockets import WebSocket

from gateway.context import GatewayContext
from gateway.ws.closes import CLOSE_INTERNAL, CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_UNSUPPORTED, Closing
from gateway.ws.connection import Connection
from gateway.ws.dialects import Dialect, V1Dialect, V2Dialect
from gateway.ws.frames import BadFrame, parse_frame
from gateway.ws.handshake import Refused, admit, outstanding_calls
from gateway.ws.outbound import OutboundBuffer
from gateway.ws.rate import FrameRate
from gateway.ws.sink import frame_sink

_log = structlog.get_logger(__name__)

NEW_SESSION_PREFIX = "new_"
CLOSE_TIMEOUT = 2.0


async def websocket_endpoint(websocket: WebSocket) -> None:
    """Admit the client, run the connection until either side ends it, then close with the deciding code."""
    context: GatewayContext = websocket.app.state.gateway
    path_id = websocket.path_params["session_id"]
    session_id = None if path_id.startswith(NEW_SESSION_PREFIX) else path_id
    calls: list[dict[str, Any]] = []
    try:
        admission = await admit(websocket, context.settings, context.authenticator)
        if session_id is not None:
            calls = await outstanding_calls(context.runtime, context.metrics, session_id, admission.principal.subject)
    except Refused as exc:
        # Accepted only to be closed: the client learns the reason and the code (a refused handshake shows neither).
        await websocket.accept()
        await _close(websocket, context, CLOSE_POLICY, str(exc))
        return
    await websocket.accept(subprotocol=admission.subprotocol)
    settings = context.settings
    connection = Connection(
        frame_sink(websocket.scope, websocket),
        context.runtime,
        context.metrics,
        OutboundBuffer(settings.ws_outbound_buffer, settings.ws_slow_consumer_seconds),
        session_id=session_id,
        subject=admission.principal.subject,
        dialect=_dialect(websocket, session_id),
    )
    context.live.add(connection)
    context.metrics.active.inc()
    try:
        closing = await _run(websocket, connection, context, calls)
    finally:
        await connection.stop()
        context.live.discard(connection)
        context.metrics.active.dec()
    if closing is not None:
        await _close(websocket, context, closing.code, closing.reason)
    _log.info("websocket closed", session_id=connection.session_id, code=closing.code if closing else None)


def _dialect(websocket: WebSocket, session_id: str | None) -> Dialect:
    if websocket.query_params.get("protocol") == "2":
        return V2Dialect()
    return V1Dialect(announces_session=session_id is None)


async def _run(
    websocket: WebSocket, connection: Connection, context: GatewayContext, calls: list[dict[str, Any]]
) -> Closing | None:
    """Until the client leaves (None) or the gateway decides to close (the ``Closing``)."""
    if calls:
        connection.spawn(connection.restore(calls, context.settings.ws_hello_grace_seconds))
    reader = asyncio.create_task(_read(websocket, connection, context))
    closing: asyncio.Future[Any] = connection.closing  # waited on as is: a task around it weighs on idle sockets
    try:
        await asyncio.wait({reader, closing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        reader.cancel()
    if connection.closing.done():
        return connection.closing.result()
    if reader.cancelled():
        return None
    if reader.exception() is not None:
        _log.error("websocket reader failed", exc_info=reader.exception())
        context.metrics.error("internal")
        return Closing(CLOSE_INTERNAL, "internal error")
    return reader.result()


async def _read(websocket: WebSocket, connection: Connection, context: GatewayContext) -> Closing | None:
    settings, metrics = context.settings, context.metrics
    rate = FrameRate(settings.ws_rate_per_second, settings.ws_rate_burst)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            metrics.closed(int(message.get("code") or 1005))
            return None
        text = message.get("text")
        if text is None:
            return Closing(CLOSE_UNSUPPORTED, "binary frames are not accepted; send JSON text frames")
        if len(text) > settings.ws_max_frame_bytes or len(text.encode()) > settings.ws_max_frame_bytes:
            return Closing(CLOSE_TOO_BIG, f"frame larger than {settings.ws_max_frame_bytes} bytes")
        if not rate.allow():
            metrics.error("flood")
            return Closing(CLOSE_POLICY, "too many frames")
        try:
            frame = parse_frame(text)
        except BadFrame as exc:
            metrics.frame_in(exc.kind)
            connection.frames_read += 1
            connection.send_error(exc.message)
            continue
        metrics.frame_in(frame.type)
        connection.handle(frame)


async def _close(websocket: WebSocket, context: GatewayContext, code: int, reason: str) -> None:
    context.metrics.closed(code)
    # A slow client may not drain its socket: never let the close wait forever.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code, reason[:120]), CLOSE_TIMEOUT)
