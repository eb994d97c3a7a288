"""``/acp`` (the endpoint of ACP's WebSocket transport RFD) and ``/acp/ws`` (where the CodeLab desktop client's
other server has it): admission, the ``Acp-Connection-Id`` on the 101 answer, the reader, the close.

Admission is the IDE socket's: the Origin allow-list and the credential on the upgrade (Bearer header, the
``bearer`` sub-protocol, ``?access_token=`` when enabled) checked by the gateway's one authenticator; a presented
credential that fails closes with 1008 and the reason. A socket without one, in a mode that needs one, is let in
unauthenticated: ``initialize`` then lists the ``bearer`` auth method, and everything but ``authenticate`` answers
-32000 until the client authenticates. The IDE's limits apply (frame size → 1009, flood → 1008); binary frames are
ignored, as the RFD says.

A plain HTTP request to these paths (the RFD's streamable HTTP) gets 426: it needs HTTP/2, which this server does
not speak; use the WebSocket.
"""

from __future__ import annotations

import uuid

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from gateway.acp.connection import AcpConnection
from gateway.auth import AuthFailed, Principal
from gateway.context import GatewayContext
from gateway.ws.closes import CLOSE_POLICY
from gateway.ws.handshake import origin_allowed, presented_credential
from gateway.ws.outbound import OutboundBuffer
from gateway.ws.reader import close_socket, run_channel
from gateway.ws.sink import frame_sink

_log = structlog.get_logger(__name__)

CONNECTION_ID_HEADER = b"acp-connection-id"
PATHS = ("/acp", "/acp/ws")


async def acp_websocket(websocket: WebSocket) -> None:
    context: GatewayContext = websocket.app.state.gateway
    settings = context.settings
    if not origin_allowed(websocket.headers.get("origin"), settings.ws_allowed_origins):
        await _refuse(websocket, context, "origin not allowed")
        return
    credential, subprotocol = presented_credential(websocket, settings)
    try:
        principal = await _principal(context, credential)
    except AuthFailed as exc:
        await _refuse(websocket, context, str(exc))
        return
    connection_id = uuid.uuid4().hex
    await websocket.accept(subprotocol=subprotocol, headers=[(CONNECTION_ID_HEADER, connection_id.encode())])
    connection = AcpConnection(
        frame_sink(websocket.scope, websocket),
        context.metrics,
        OutboundBuffer(settings.ws_outbound_buffer, settings.ws_slow_consumer_seconds),
        runtime=context.runtime,
        authenticator=context.authenticator,
        principal=principal,
        connection_id=connection_id,
    )
    closing = await run_channel(websocket, connection, context, connection.receive, binary_closes=False)
    _log.info("acp websocket closed", acp_connection=connection_id, code=closing.code if closing else None)


async def _principal(context: GatewayContext, credential: str | None) -> Principal | None:
    """The caller; None when no credential came and the auth mode needs one (``authenticate`` may bring it)."""
    if credential is None and context.settings.ws_anonymous:
        return Principal(None)
    try:
        return await context.authenticator.authenticate(credential)
    except AuthFailed:
        if credential is None:
            return None
        raise


async def _refuse(websocket: WebSocket, context: GatewayContext, reason: str) -> None:
    """Accepted only to be closed: the client learns the code and the reason (a refused handshake shows neither)."""
    await websocket.accept()
    await close_socket(websocket, context, CLOSE_POLICY, reason)


async def acp_http(request: Request) -> JSONResponse:
    message = "ACP here is served over WebSocket (GET with Upgrade: websocket); streamable HTTP needs HTTP/2"
    body = {"error": {"message": message, "type": "invalid_request_error", "code": "upgrade_required", "param": None}}
    return JSONResponse(body, status_code=426, headers={"Upgrade": "websocket", "Connection": "Upgrade"})
