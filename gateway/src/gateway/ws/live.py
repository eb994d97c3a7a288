"""The open sockets of this process (every protocol's channels), so a graceful shutdown can close each with 1001."""

from __future__ import annotations

import asyncio
import contextlib

from gateway.ws.channel import Channel
from gateway.ws.closes import CLOSE_GOING_AWAY


class LiveSockets:
    """Connections register while open; ``close_all`` asks each to end and waits (bounded) until they have."""

    def __init__(self) -> None:
        self._connections: set[Channel] = set()
        self._empty = asyncio.Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self._connections)

    def add(self, connection: Channel) -> None:
        self._connections.add(connection)
        self._empty.clear()

    def discard(self, connection: Channel) -> None:
        self._connections.discard(connection)
        if not self._connections:
            self._empty.set()

    async def close_all(self, wait_seconds: float, code: int = CLOSE_GOING_AWAY) -> None:
        """Close every socket with ``code`` (the runtime's runs continue; clients reconnect and resume)."""
        for connection in list(self._connections):
            connection.close_with(code, "server shutting down")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._empty.wait(), wait_seconds)
