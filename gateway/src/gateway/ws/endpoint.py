"""``/api/v1/ws/{session_id}`` (and ``/ws/{session_id}``): relay IDE frames to the runtime and its chunks back.

The socket keeps reading while a turn streams: inbound frames go into a queue that one worker drains in order,
so a second ``user_message`` waits for the first turn instead of interleaving with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway.runtime_client import RuntimeClient, RuntimeUnavailable
from gateway.ws.dialects import Dialect, Frame, dialect_for

_log = structlog.get_logger(__name__)


class Connection:
    def __init__(self, websocket: WebSocket, runtime: RuntimeClient, session_id: str, dialect: Dialect) -> None:
        self.websocket = websocket
        self.runtime = runtime
        self.session_id = session_id
        self.dialect = dialect
        self.inbound: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._send_lock = asyncio.Lock()

    async def send(self, frame: Frame) -> None:
        async with self._send_lock:
            await self.websocket.send_text(orjson.dumps(frame).decode())

    async def send_error(self, message: str) -> None:
        await self.send({"type": "error", "content": message, "error": message})

    async def relay(self, message: dict[str, Any]) -> None:
        try:
            async for chunk in self.runtime.stream_message(self.session_id, message):
                frame = self.dialect.translate(chunk)
                if frame is not None:
                    await self.send(frame)
        except RuntimeUnavailable as exc:
            await self.send_error(exc.message)

    async def work(self) -> None:
        while True:
            message = await self.inbound.get()
            await self.relay(message)


async def websocket_endpoint(websocket: WebSocket) -> None:
    session_id = websocket.path_params["session_id"]
    version = 2 if websocket.query_params.get("protocol") == "2" else 1
    await websocket.accept()
    connection = Connection(websocket, websocket.app.state.runtime, session_id, dialect_for(version))
    worker = asyncio.create_task(connection.work())
    try:
        while True:
            text = await websocket.receive_text()
            try:
                frame = orjson.loads(text)
            except orjson.JSONDecodeError:
                await connection.send_error("invalid JSON")
                continue
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                await connection.send_error("a frame must be a JSON object with a string 'type'")
                continue
            connection.inbound.put_nowait(frame)
    except WebSocketDisconnect:
        pass
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        _log.info("websocket closed", session_id=session_id)
