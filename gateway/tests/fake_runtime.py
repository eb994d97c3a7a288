"""A fake agent runtime that speaks the contract of doc/contracts.md over real HTTP (aiohttp, free port).

Runs belong to the fake, not to the request: a frame starts a run task that publishes events to the session's log
and to every live subscriber; ``POST /agent/message/stream`` subscribes to its own run until that run's ``done``,
``GET /sessions/{id}/events?after=N`` replays the log after N and follows live. Token deltas stay in the log only
while their turn runs and are folded into the final message, as the contract says.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from fake_agent import FakeAgent, Turn

from service_kit.subject import decode_subject

KEY = "internal-key-for-tests-0123456789"


@dataclass
class Event:
    seq: int
    chunk: dict[str, Any]
    run: int


@dataclass
class FakeSession:
    id: str
    owner: str | None
    title: str = "New chat"
    log: list[Event] = field(default_factory=list)
    subscribers: list[asyncio.Queue[Event]] = field(default_factory=list)
    outstanding: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    current: asyncio.Task[None] | None = None
    next_seq: int = 1

    def publish(self, chunk: dict[str, Any], run: int) -> None:
        chunk = {"session_id": self.id, **chunk}
        event = Event(self.next_seq, chunk, run)
        self.next_seq += 1
        if chunk["type"] == "assistant_message" and chunk.get("is_final") is True:
            self.log = [e for e in self.log if not (e.run == run and e.chunk.get("is_final") is False)]
        self.log.append(event)
        for queue in self.subscribers:
            queue.put_nowait(event)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "message_count": len(self.history),
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "last_activity": "2026-01-01T00:00:00Z",
            "current_agent": "orchestrator",
            "title": self.title,
            "description": None,
            "is_active": True,
        }


def subject_of(request: web.Request) -> str | None:
    """``X-Subject`` decoded as the runtime decodes it (percent-encoded UTF-8)."""
    return decode_subject(request.headers.get("X-Subject"))


def _error(status: int, message: str, code: str) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": None}}
    return web.json_response(body, status=status)


class FakeRuntime:
    """The fake's state and its aiohttp app; ``url`` is set once started."""

    def __init__(self, agent: FakeAgent | None = None) -> None:
        self.agent = agent or FakeAgent()
        self.sessions: dict[str, FakeSession] = {}
        self.received: list[dict[str, Any]] = []  # every POSTed frame with its session id and X-Subject
        self.forwarded: list[dict[str, Any]] = []
        self.url = ""
        self.probe_delay = 0.0  # seconds the outstanding-tool-calls answer hangs
        self._ids = itertools.count(1)
        self._runs = itertools.count(1)
        self._runner: web.AppRunner | None = None

    # lifecycle

    async def start(self) -> None:
        app = web.Application(middlewares=[self._check_key])
        app.router.add_post("/agent/message/stream", self.message_stream)
        app.router.add_get("/sessions/{id}/events", self.events)
        app.router.add_get("/sessions/{id}/outstanding-tool-calls", self.outstanding)
        app.router.add_route("*", "/{tail:(sessions|agents|events).*}", self.rest)
        self._runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        for session in self.sessions.values():
            if session.current is not None:
                session.current.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _check_key(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("X-Internal-Auth") != KEY:
            return _error(401, "missing or invalid internal key", "unauthorized")
        return await handler(request)  # type: ignore[no-any-return]

    # sessions

    def create_session(self, owner: str | None) -> FakeSession:
        session = FakeSession(f"sess-{next(self._ids)}", owner)
        self.sessions[session.id] = session
        return session

    def _owned(self, request: web.Request, session_id: str) -> FakeSession | web.Response:
        session = self.sessions.get(session_id)
        if session is None:
            return _error(404, f"session {session_id} not found", "not_found")
        subject = subject_of(request)
        if subject is not None and session.owner is not None and subject != session.owner:
            return _error(404, f"session {session_id} not found", "not_found")  # as the runtime: like a missing one
        return session

    # the chunk stream

    async def message_stream(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        message = body.get("message") or {}
        subject = subject_of(request)
        self.received.append({"session_id": body.get("session_id"), "message": message, "subject": subject})
        if message.get("type") not in self.agent.accepted_types:
            return _error(400, f"unknown message type {message.get('type')!r}", "invalid_message")
        if body.get("session_id") is None:
            session = self.create_session(subject)
            created = True
        else:
            found = self._owned(request, body["session_id"])
            if isinstance(found, web.Response):
                return found
            session, created = found, False
        if message["type"] == "cancel":
            if session.current is not None:
                session.current.cancel()
            return await self._respond(request, _empty())
        run = next(self._runs)
        queue: asyncio.Queue[Event] = asyncio.Queue()
        session.subscribers.append(queue)
        if created:
            session.publish({"type": "session_info"}, run)
        if session.lock.locked():
            session.publish({"type": "status", "content": "queued", "metadata": {"queued": True}}, run)
        asyncio.get_running_loop().create_task(self._run(session, message, run))
        return await self._respond(request, _own_run(session, queue, run))

    async def _run(self, session: FakeSession, message: dict[str, Any], run: int) -> None:
        async with session.lock:
            session.current = asyncio.current_task()
            turn = Turn(session, run)
            try:
                await self.agent.handle(turn, message)
            except asyncio.CancelledError:
                session.publish({"type": "done", "stop_reason": "cancelled", "usage": _usage()}, run)
                return
            finally:
                session.current = None
            done = {"type": "done", "stop_reason": turn.stop_reason, "usage": _usage()}
            if turn.model_finish is not None:
                done["model_finish"] = turn.model_finish
            session.publish(done, run)

    async def events(self, request: web.Request) -> web.StreamResponse:
        found = self._owned(request, request.match_info["id"])
        if isinstance(found, web.Response):
            return found
        after = int(request.query.get("after") or request.headers.get("Last-Event-ID") or 0)
        queue: asyncio.Queue[Event] = asyncio.Queue()
        backlog = [e for e in found.log if e.seq > after]
        found.subscribers.append(queue)  # same tick as the snapshot: no gap, no overlap
        return await self._respond(request, _follow(found, queue, backlog))

    async def _respond(self, request: web.Request, events: AsyncIterator[Event]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            async for event in events:
                await response.write(b"id: %d\ndata: %s\n\n" % (event.seq, orjson.dumps(event.chunk)))
        except (ConnectionResetError, asyncio.CancelledError):
            return response
        return response

    async def outstanding(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.probe_delay)
        found = self._owned(request, request.match_info["id"])
        if isinstance(found, web.Response):
            return found
        calls = list(found.outstanding.values())
        return web.json_response({"session_id": found.id, "owner": found.owner, "tool_calls": calls})

    # REST

    async def rest(self, request: web.Request) -> web.StreamResponse:
        from fake_rest import answer  # the REST half lives in its own module to keep files small

        return await answer(self, request)


async def _empty() -> AsyncIterator[Event]:
    return
    yield


async def _own_run(session: FakeSession, queue: asyncio.Queue[Event], run: int) -> AsyncIterator[Event]:
    try:
        while True:
            event = await queue.get()
            if event.run != run:
                continue
            yield event
            if event.chunk["type"] == "done":
                return
    finally:
        session.subscribers.remove(queue)


async def _follow(session: FakeSession, queue: asyncio.Queue[Event], backlog: list[Event]) -> AsyncIterator[Event]:
    try:
        last = 0
        for event in backlog:
            last = event.seq
            yield event
        while True:
            event = await queue.get()
            if event.seq > last:
                yield event
    finally:
        session.subscribers.remove(queue)


def _usage() -> dict[str, int]:
    return {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
