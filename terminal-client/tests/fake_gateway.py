"""A small gateway speaking the v2 dialect over a real WebSocket, driven by a per-test script.

Like the real gateway it gives every session frame a per-session ``seq``, keeps a log, replays it on
``resume{last_seq}`` and never sends a ``seq`` twice on one connection. The script plays the runtime: it is called
once per inbound frame that the real gateway would forward, in order, and emits chunks with the helpers below.
A script may drop the connection mid-turn; what it emits afterwards only goes to the log (the run goes on without
the client), like a runtime whose run is decoupled from the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

Frame = dict[str, Any]
Script = Callable[["FakeSession", Frame], Awaitable[None]]
FORWARDED = frozenset({"user_message", "tool_result", "hitl_decision", "plan_decision", "switch_agent", "cancel"})


@dataclass
class Attachment:
    connection: ServerConnection
    sent_seq: int = 0


@dataclass
class FakeSession:
    """One session: its log, and the connection currently following it."""

    id: str
    replay_deltas: bool = True
    log: list[Frame] = field(default_factory=list)
    attachment: Attachment | None = None
    attached: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def emit(self, kind: str, **fields: Any) -> None:
        """Log a chunk with the next seq and send it to the attached connection, if any."""
        chunk = {"type": kind, "session_id": self.id, **fields, "seq": len(self.log) + 1}
        self.log.append(chunk)
        await self.flush()

    async def say(self, text: str, pieces: int = 3) -> None:
        """Token deltas of ``text`` in ``pieces`` parts, then the final message."""
        size = max(len(text) // pieces, 1)
        for start in range(0, len(text), size):
            await self.emit("assistant_message", token=text[start : start + size], is_final=False)
        await self.emit("assistant_message", content=text, is_final=True, metadata={"agent": "coder"})

    async def done(self, stop_reason: str = "completed") -> None:
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        await self.emit("done", stop_reason=stop_reason, usage=usage)

    async def control(self, kind: str, **fields: Any) -> None:
        """A connection-level frame (no seq, not logged), e.g. the gateway's error for a frame it could not deliver."""
        if self.attachment is not None:
            await self.attachment.connection.send(orjson.dumps({"type": kind, **fields}).decode())

    async def drop(self, code: int | None = None) -> None:
        """Cut the connection: a close frame with ``code``, or (None) a TCP abort as a crash would."""
        attachment, self.attachment = self.attachment, None
        self.attached.clear()
        if attachment is None:
            return
        if code is None:
            attachment.connection.transport.abort()
        else:
            await attachment.connection.close(code)

    async def attach(self, connection: ServerConnection, after_seq: int, replaying: bool) -> None:
        self.attachment = Attachment(connection, after_seq)
        await self.flush(replaying=replaying)
        self.attached.set()

    async def flush(self, replaying: bool = False) -> None:
        async with self.lock:
            attachment = self.attachment
            if attachment is None:
                return
            for chunk in self.log[attachment.sent_seq :]:
                attachment.sent_seq = chunk["seq"]
                if replaying and not self.replay_deltas and chunk.get("is_final") is False:
                    continue
                with contextlib.suppress(Exception):
                    await attachment.connection.send(orjson.dumps(chunk).decode())


class FakeGateway:
    """Serves ``/api/v1/ws/{id}`` and ``/ws/{id}`` on a free loopback port."""

    def __init__(
        self,
        script: Script,
        *,
        replay_deltas: bool = True,
        require_token: str | None = None,
        replay_overlap: int = 0,
        port: int = 0,
    ) -> None:
        self.script = script
        self.port = port
        self.replay_overlap = replay_overlap  # > 0 plays a faulty gateway that replays frames the client already has
        self.replay_deltas = replay_deltas
        self.require_token = require_token
        self.sessions: dict[str, FakeSession] = {}
        self.received: list[Frame] = []
        self.paths: list[str] = []
        self.authorizations: list[str | None] = []
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    def received_of(self, kind: str) -> list[Frame]:
        return [frame for frame in self.received if frame.get("type") == kind]

    async def __aenter__(self) -> FakeGateway:
        self._server = await serve(
            self._handle, "127.0.0.1", self.port, process_request=self._check_auth, compression=None
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _check_auth(self, connection: ServerConnection, request: Request) -> Response | None:
        self.authorizations.append(request.headers.get("Authorization"))
        if self.require_token and request.headers.get("Authorization") != f"Bearer {self.require_token}":
            return Response(401, "Unauthorized", Headers(), b"")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        url = urlsplit(connection.request.path)
        self.paths.append(url.path)
        assert parse_qs(url.query).get("protocol") == ["2"]
        session_id = url.path.rsplit("/", 1)[-1]
        session = self.sessions.get(session_id)
        async for message in connection:
            frame = orjson.loads(message)
            self.received.append(frame)
            session = await self._dispatch(connection, session, session_id, frame)

    async def _dispatch(
        self, connection: ServerConnection, session: FakeSession | None, session_id: str, frame: Frame
    ) -> FakeSession | None:
        kind = frame.get("type")
        if kind == "ping":
            await connection.send(orjson.dumps({"type": "pong", "nonce": frame.get("nonce")}).decode())
        elif kind == "resume" and session is not None:
            after = max(int(frame["last_seq"]) - self.replay_overlap, 0)
            await session.attach(connection, after, replaying=True)
        elif kind in FORWARDED:
            if session is None:
                session = FakeSession(f"s{len(self.sessions) + 1}", replay_deltas=self.replay_deltas)
                self.sessions[session.id] = session
                await session.attach(connection, 0, replaying=False)
                await session.emit("session_info")
            elif session.attachment is None or session.attachment.connection is not connection:
                await session.attach(connection, len(session.log), replaying=False)
            await self.script(session, frame)
        else:
            await connection.send(orjson.dumps({"type": "error", "content": f"unknown frame {kind}"}).decode())
        return session
