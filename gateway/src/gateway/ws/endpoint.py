"""``/api/v1/ws/{session_id}`` (and ``/ws/{session_id}``): admission, the reader, and the close.

The reader task only reads, checks and hands frames to the connection, so it is always ready for the next frame
(``cancel``, ``ping``, a queued ``user_message``) while turns stream. Transport-level violations end the socket
with their code (1003 binary, 1009 too big, 1008 flood); a bad JSON frame only gets an ``error`` frame.
"""

from __future__ import annotations

import structlog
from starlette.websockets import WebSocket

from gateway.context import GatewayContext
from gateway.ws.connection import Connection
from gateway.ws.dialects import Dialect, V1Dialect, V2Dialect
from gateway.ws.frames import BadFrame, parse_frame
from gateway.ws.handshake import Refused, admit
from gateway.ws.outbound import OutboundBuffer
from gateway.ws.reader import TextHandler, close_socket, run_channel
from gateway.ws.sink import frame_sink

_log = structlog.get_logger(__name__)

NEW_SESSION_PREFIX = "new_"


async def websocket_endpoint(websocket: WebSocket) -> None:
    """Admit the client, run the connection until either side ends it, then close with the deciding code."""
    context: GatewayContext = websocket.app.state.gateway
    path_id = websocket.path_params["session_id"]
    session_id = None if path_id.startswith(NEW_SESSION_PREFIX) else path_id
    try:
        admission = await admit(
            websocket, context.settings, context.authenticator, context.runtime, context.metrics, session_id
        )
    except Refused as exc:
        # Accepted only to be closed: the client learns the reason and the code (a refused handshake shows neither).
        await websocket.accept()
        await close_socket(websocket, context, exc.code, str(exc))
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
    if admission.outstanding_calls:
        connection.spawn(connection.restore(admission.outstanding_calls, context.settings.ws_hello_grace_seconds))
    closing = await run_channel(websocket, connection, context, _deliver(connection, context), binary_closes=True)
    _log.info("websocket closed", session_id=connection.session_id, code=closing.code if closing else None)


def _dialect(websocket: WebSocket, session_id: str | None) -> Dialect:
    if websocket.query_params.get("protocol") == "2":
        return V2Dialect()
    return V1Dialect(announces_session=session_id is None)


def _deliver(connection: Connection, context: GatewayContext) -> TextHandler:
    metrics = context.metrics

    def deliver(text: str) -> None:
        try:
            frame = parse_frame(text)
        except BadFrame as exc:
            metrics.frame_in(exc.kind)
            connection.frames_read += 1
            connection.send_error(exc.message)
            return
        metrics.frame_in(frame.type)
        connection.handle(frame)

    return deliver
