"""A short way in for a service's hottest route, and the raw ASGI responses it answers with.

Under load a streamed route's cost is mostly framework: FastAPI's own middleware (server errors, exception
handlers, exit stack), its router, dependency solving and Starlette's response classes added ~0.5 ms of CPU to
every request and two ``send`` layers to every streamed chunk (measured on the llm-proxy and the agent-runtime). A
hot route needs none of it: it reads its own body with a limit, answers its own errors in the envelope and takes
what it needs from ``app.state``. So :class:`HotPathApp` hands a POST to such a route through the *same user
middleware* (request id and access log, internal key: whatever was added) straight to its endpoint; everything
else, including other methods on that path, takes the normal FastAPI route, and the OpenAPI document still lists it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_kit.errors import BodyTooLarge, error_body
from service_kit.middleware import declared_length
from service_kit.sse import HEARTBEAT

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_JSON_TYPE = (b"content-type", b"application/json")


__all__ = ["BodyTooLarge", "EventStream", "HotPathApp", "read_body", "send_error", "send_event_stream", "send_json"]


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request body, or ``None`` when the client left while sending it; over ``limit`` bytes: ``BodyTooLarge``."""
    declared = declared_length(scope)
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    parts: list[bytes] = []
    size = 0
    while True:  # a chunked body has no content-length: stop reading at the limit
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            raise BodyTooLarge(limit)
        parts.append(part)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


async def send_json(send: Send, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
    """A whole ``application/json`` response."""
    raw = [_JSON_TYPE, (b"content-length", str(len(body)).encode())]
    if headers:
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send: Send, status: int, message: str, *, code: str | None = None, param: str | None = None
) -> None:
    """An error in the one JSON envelope."""
    await send_json(send, status, error_body(status, message, code=code, param=param))


class _DisconnectWatch:
    """Cancels the responding task when ``http.disconnect`` arrives before the body is complete, so the source
    generator (and whatever it reads from) is closed at once, even while the source is silent."""

    __slots__ = ("_task", "_watcher", "disconnected", "finished")

    def __init__(self, receive: Receive) -> None:
        self._task = asyncio.current_task()
        self.disconnected = False
        self.finished = False
        self._watcher = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass  # the request body was read before the response started; nothing else is expected
        if not self.finished and self._task is not None:
            self.disconnected = True
            self._task.cancel()

    def stop(self) -> None:
        self.finished = True
        self._watcher.cancel()


class EventStream:
    """A ``text/event-stream`` response, used as ``async with``; its 200 goes out with the first write (or
    ``start()``), so until then the caller may still answer an error status instead (``fail``).

    With ``heartbeat`` seconds, a ``: keep-alive`` comment goes out whenever nothing was written for one to two
    intervals, the first one with the headers: the peer can tell a silent exchange (an upstream thinking, retries
    before its first byte) from a dead one. Per write this costs a flag; one timer per response does the rest.
    A client that leaves cancels the responding task wherever it waits, and leaving the block then ends the request
    normally (Starlette's ``StreamingResponse`` would build a header object and an anyio task group for the same)."""

    def __init__(self, receive: Receive, send: Send, *, heartbeat: float | None = None) -> None:
        self._send = send
        self.started = False
        self._wrote = False
        self._beat: asyncio.Task[None] | None = None
        self._watch = _DisconnectWatch(receive)
        self._loop = asyncio.get_running_loop()
        self._interval = heartbeat
        self._timer = self._loop.call_later(heartbeat, self._tick) if heartbeat else None

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        self._stop_beating()
        if self._beat is not None:
            self._beat.cancel()
        self._watch.stop()
        if kind is asyncio.CancelledError and self._watch.disconnected:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # the client left: a normal end for this request, not a cancelled server
            return True
        return False

    async def start(self) -> None:
        """Send the headers now (the caller's peer waits for them to know the request was accepted)."""
        if self._beat is not None:
            await self._beat  # never two sends at once
        if not self.started:
            self.started = True
            await self._send({"type": "http.response.start", "status": 200, "headers": list(_SSE_HEADERS)})

    async def write(self, data: bytes) -> None:
        self._wrote = True
        if self._beat is not None or not self.started:
            await self.start()
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def write_all(self, events: AsyncGenerator[bytes, None]) -> None:
        """Every item of ``events``, then the end of the body; ``events`` is always closed."""
        try:
            async for chunk in events:
                await self.write(chunk)
            await self.end()
        finally:
            await events.aclose()

    async def end(self, data: bytes = b"") -> None:
        """``data`` (e.g. an error event) and the end of the body."""
        self._stop_beating()
        if data:
            await self.write(data)
        await self.start()
        self._watch.finished = True  # a disconnect reported from here on is the normal end of the exchange
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    async def fail(self, status: int, body: bytes, headers: Mapping[str, str] | None, *, event: bytes) -> None:
        """End with an error: a JSON answer with ``status`` while nothing was sent, else ``event`` as the last one."""
        self._stop_beating()
        if self._beat is not None:
            await self._beat
        if self.started:
            await self.end(event)
        else:
            self._watch.finished = True
            await send_json(self._send, status, body, headers)

    def _tick(self) -> None:
        assert self._interval is not None
        if self._wrote or self._beat is not None:
            self._wrote = False
        else:
            self._beat = self._loop.create_task(self._heartbeat())
        self._timer = self._loop.call_later(self._interval, self._tick)

    async def _heartbeat(self) -> None:
        try:
            # A failed send means the client is gone: the disconnect watch ends the request.
            with contextlib.suppress(Exception):
                if not self.started:
                    self.started = True
                    await self._send({"type": "http.response.start", "status": 200, "headers": list(_SSE_HEADERS)})
                await self._send({"type": "http.response.body", "body": HEARTBEAT, "more_body": True})
        finally:
            self._beat = None

    def _stop_beating(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def send_event_stream(receive: Receive, send: Send, events: AsyncGenerator[bytes, None]) -> None:
    """Send ``events`` as a ``text/event-stream`` body, headers first, one ASGI message per item; the generator is
    always closed (see :class:`EventStream`)."""
    async with EventStream(receive, send) as stream:
        await stream.start()
        await stream.write_all(events)


class _ServerErrorGuard:
    """What ``ServerErrorMiddleware`` does for the short way: an unexpected exception becomes a 500 in the JSON
    envelope if nothing was sent yet, and is re-raised for the server to log."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            if not started:
                await send_error(send, 500, "internal server error")
            raise


class HotPathApp(FastAPI):
    """A FastAPI app that hands ``POST`` to each hot path to its raw ASGI endpoint through the user middleware
    only (the endpoint reaches the app as ``scope["app"]``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hot: dict[str, ASGIApp] = {}
        self._hot_stacks: dict[str, ASGIApp] = {}
        self._documented: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def add_hot_route(
        self, path: str, endpoint: ASGIApp, *, openapi: dict[str, Any], schemas: dict[str, Any] | None = None
    ) -> None:
        """Serve ``POST path`` the short way. ``openapi`` is the path's operation object for the document (FastAPI
        cannot see a raw route), ``schemas`` the components it refers to."""
        self._hot[path] = endpoint
        # Also routed the normal way: other methods get their 405, and the route is listed like the others.
        self.router.routes.append(Route(path, endpoint, methods=["POST"], include_in_schema=False))
        self._documented[path] = ({"post": openapi}, schemas or {})

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = super().openapi()
            for path, (operations, schemas) in self._documented.items():
                schema.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
                schema.setdefault("paths", {})[path] = operations
        return self.openapi_schema  # type: ignore[return-value]

    def _stack(self, path: str) -> ASGIApp:
        stack = self._hot_stacks.get(path)
        if stack is None:
            app = self._hot[path]
            for middleware in reversed(self.user_middleware):  # as Starlette builds its stack, same order
                cls, args, kwargs = middleware
                app = cls(app, *args, **kwargs)
            stack = self._hot_stacks[path] = _ServerErrorGuard(app)
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self._hot:
            scope["app"] = self
            await self._stack(scope["path"])(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
