"""Where a connection's frames go: already-encoded JSON text frames, several per call.

The gateway's own server protocol (``server.GatewayWSProtocol``) offers an ASGI scope extension that writes a batch
of text frames with one ``transport.write`` (one syscall), framing them by hand: on a loopback or LAN socket the
write itself is most of a frame's cost. Any other ASGI server (tests' clients, another uvicorn protocol) gets the
frames one ``websocket.send`` at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol

# Scope extension: ``scope["extensions"][TEXT_FRAMES]`` is an async callable taking a sequence of UTF-8 payloads.
TEXT_FRAMES = "gateway.text_frames"

SendFrames = Callable[[Sequence[bytes]], Coroutine[Any, Any, None]]


class FrameSink(Protocol):
    """Sends UTF-8 JSON payloads as WebSocket text frames, in order; raises when the socket is gone."""

    async def send_frames(self, payloads: Sequence[bytes]) -> None: ...


class TextSocket(Protocol):
    """Anything with Starlette's ``send_text``."""

    async def send_text(self, data: str) -> None: ...


class TextSink:
    """One ``send_text`` per frame: the portable path."""

    __slots__ = ("_socket",)

    def __init__(self, socket: TextSocket) -> None:
        self._socket = socket

    async def send_frames(self, payloads: Sequence[bytes]) -> None:
        for payload in payloads:
            await self._socket.send_text(payload.decode())


class BatchSink:
    """The server's batch writer from the scope extension, called directly (no hop through this module per batch)."""

    __slots__ = ("send_frames",)
    send_frames: SendFrames

    def __init__(self, send: SendFrames) -> None:
        self.send_frames = send


def frame_sink(scope: Mapping[str, Any], socket: TextSocket) -> FrameSink:
    """The batch writer when the server offers it, else ``send_text`` on ``socket``."""
    send = (scope.get("extensions") or {}).get(TEXT_FRAMES)
    return BatchSink(send) if callable(send) else TextSink(socket)
