"""Serving the gateway: uvicorn as ``service_kit.service.serve`` runs it, plus a shutdown that closes sockets with
1001 ("going away": the runtime's runs continue, reconnect and resume) before uvicorn's own connection shutdown,
which would close them with 1012.
"""

from __future__ import annotations

import gc
import socket
import struct
from collections.abc import Sequence
from typing import Any, cast

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto import events
from wsproto.connection import ConnectionState

from gateway.context import GatewayContext
from gateway.settings import Settings
from gateway.ws.sink import TEXT_FRAMES
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
    """uvicorn's wsproto protocol, with two changes.

    - A frame wsproto cannot parse (invalid UTF-8 → 1007, a protocol violation → 1002) is answered with a close frame
      carrying that code. wsproto reports the failure as if the peer had closed (but without entering
      REMOTE_CLOSING, which a real close from the peer does) and then drops the connection, so uvicorn would cut
      the TCP connection silently (the client sees 1006).
    - The scope offers ``gateway.text_frames`` (see ``gateway.ws.sink``): a batch of already-encoded text frames
      written with one ``transport.write``. Per frame, uvicorn's ``send`` costs a wsproto event, its serialiser and
      one syscall; a server's unfragmented, unmasked, uncompressed text frame is just a 2-10 byte header.
    """

    def handle_connect(self, event: events.Request) -> None:
        super().handle_connect(event)
        extensions = cast(dict[str, Any], self.scope["extensions"])
        extensions[TEXT_FRAMES] = self.send_text_frames

    async def send_text_frames(self, payloads: Sequence[bytes]) -> None:
        """Write UTF-8 payloads as text frames, in one write; raise ``ClientDisconnected`` once the socket cannot
        carry data frames any more (the states in which ``send`` would refuse a ``websocket.send``)."""
        await self.writable.wait()  # the transport's high-water mark: the same backpressure as ``send``
        if (
            self.disconnected
            or self.close_sent
            or self.response_started
            or not self.handshake_complete
            or self.conn.state is not ConnectionState.OPEN
        ):
            raise ClientDisconnected()
        if not self.transport.is_closing():
            parts: list[bytes] = []
            for payload in payloads:
                parts += (_text_header(len(payload)), payload)
            self.transport.write(b"".join(parts))

    def handle_close(self, event: events.CloseConnection) -> None:
        from_parser = self.conn.state is not ConnectionState.REMOTE_CLOSING
        if from_parser and not self.close_sent and not self.transport.is_closing():
            self.transport.write(_close_frame(event.code))
        super().handle_close(event)


def _text_header(length: int) -> bytes:
    """FIN + opcode 1, unmasked (RFC 6455 §5.2): 7-bit, 16-bit or 64-bit payload length."""
    if length < 126:
        return bytes((0x81, length))
    if length < 0x10000:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


def _close_frame(code: int) -> bytes:
    # A server frame is never masked: FIN + opcode 8, a 2-byte payload length, the code.
    return bytes((0x88, 2)) + struct.pack("!H", code)


def server_config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The options of ``service_kit.service.serve`` (uvloop, httptools, wsproto, no deflate) plus the frame limit and
    the close-code fix above."""
    options = server_options(
        settings,
        ws=GatewayWSProtocol,
        ws_max_size=settings.ws_max_frame_bytes,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        **overrides,
    )
    return uvicorn.Config(app, **options)


def serve_gateway(app: FastAPI, settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then shut down gracefully."""
    # Everything imported and built so far lives as long as the process: moved out of the collector's reach, so the
    # full collections that per-token garbage eventually triggers do not walk it again and again. And collections
    # far rarer than the default (every 700 net allocations): with thousands of sockets open, most young objects are
    # long-lived socket state, and the default thresholds walked it so often that a connection cost twice the CPU
    # (2,000 sockets opened at once, one short turn each: ~0.9 → ~0.5 ms per token of the gateway's CPU).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    GatewayServer(server_config(app, settings), app).run()
