"""Serving the gateway: uvicorn as ``service_kit.service.serve`` runs it, plus a shutdown that closes sockets with
1001 ("going away": the runtime's runs continue, reconnect and resume) before uvicorn's own connection shutdown,
which would close them with 1012.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto import events
from wsproto.connection import ConnectionState

from gateway.context import GatewayContext
from gateway.settings import Settings
from service_kit.service import server_options

SHUTDOWN_CLOSE_TIMEOUT = 5.0


class GatewayServer(uvicorn.Server):
    """A uvicorn server whose shutdown first closes the app's WebSockets with 1001."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        context: GatewayContext | None = getattr(self._app.state, "gateway", None)
        if context is not None:
            for server in self.servers:
                server.close()  # no new sockets while the old ones are being closed
            await context.live.close_all(SHUTDOWN_CLOSE_TIMEOUT)
        await super().shutdown(sockets)


class GatewayWSProtocol(WSProtocol):
    """uvicorn's wsproto protocol, except that a frame wsproto cannot parse (invalid UTF-8 → 1007, a protocol
    violation → 1002) is answered with a close frame carrying that code. wsproto reports the failure as if the peer
    had closed (but without entering REMOTE_CLOSING, which a real close from the peer does) and then drops the
    connection, so uvicorn would cut the TCP connection silently (the client sees 1006)."""

    def handle_close(self, event: events.CloseConnection) -> None:
        from_parser = self.conn.state is not ConnectionState.REMOTE_CLOSING
        if from_parser and not self.close_sent and not self.transport.is_closing():
            self.transport.write(_close_frame(event.code))
        super().handle_close(event)


def _close_frame(code: int) -> bytes:
    # A server frame is never masked: FIN + opcode 8, a 2-byte payload length, the code.
    return bytes((0x88, 2)) + struct.pack("!H", code)


def server_config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The options of ``service_kit.service.serve`` (uvloop, httptools, wsproto, no deflate) plus the frame limit and
    the close-code fix above."""
    options = server_options(settings, ws=GatewayWSProtocol, ws_max_size=settings.ws_max_frame_bytes, **overrides)
    return uvicorn.Config(app, **options)


def serve_gateway(app: FastAPI, settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then shut down gracefully."""
    GatewayServer(server_config(app, settings), app).run()
