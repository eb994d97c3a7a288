"""Pure ASGI middleware: nothing here buffers or wraps a streaming body, and WebSocket scopes are covered."""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_kit.errors import BodyTooLarge, error_body

REQUEST_ID_HEADER = "x-request-id"
_log = structlog.get_logger("service_kit.access")


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of the (lower-case) header ``name``."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` when it is a plain decimal number, else None (a chunked body has none)."""
    declared = header(scope, b"content-length")
    if declared is None or not declared.isdigit():
        return None
    return int(declared) if len(declared) <= 18 else 2**63  # never int() of thousands of digits


def _usable_request_id(raw: bytes | None) -> str:
    if raw and len(raw) <= 128 and raw.isascii() and raw.decode().isprintable():
        return raw.decode()
    return os.urandom(16).hex()


class RequestContextMiddleware:
    """Accepts ``X-Request-ID`` (or makes one), binds it to every log line, echoes it, and logs one access line.

    The access line carries the path without its query string: a client may put a token there.
    """

    def __init__(self, app: ASGIApp, quiet_paths: frozenset[str] = frozenset({"/health", "/metrics"})) -> None:
        self.app = app
        self.quiet_paths = quiet_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _usable_request_id(header(scope, REQUEST_ID_HEADER.encode()))
        scope.setdefault("state", {})["request_id"] = request_id
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
        finally:
            if scope["type"] == "http":
                path = scope.get("path", "")
                log = _log.debug if path in self.quiet_paths else _log.info
                log(
                    "request",
                    method=scope.get("method"),
                    path=path,
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
            structlog.contextvars.reset_contextvars(**tokens)


class InternalAuthMiddleware:
    """Requires the internal key on every route that ``is_protected`` names.

    The key is accepted in ``X-Internal-Auth``, as ``Authorization: Bearer <key>`` (so the official OpenAI SDK
    works against the llm-proxy) or in ``X-Api-Key`` (the Anthropic SDK's header), and compared in constant time.
    A refused HTTP request gets 401 in the JSON error envelope (or the body ``refusal(path)`` gives, for an API
    with its own error shape); a refused WebSocket is closed with 1008 before it is accepted.
    """

    def __init__(
        self,
        app: ASGIApp,
        key: str,
        is_protected: Callable[[str], bool],
        refusal: Callable[[str], bytes | None] | None = None,
    ) -> None:
        if not key:
            raise ValueError("the internal key must not be empty")
        self.app = app
        self._key = key.encode()
        self._is_protected = is_protected
        self._refusal = refusal

    def _authorized(self, scope: Scope) -> bool:
        presented = header(scope, b"x-internal-auth")
        if presented is None:
            bearer = header(scope, b"authorization")
            if bearer and bearer[:7].lower() == b"bearer ":
                presented = bearer[7:].strip()
            else:
                presented = header(scope, b"x-api-key")
        return presented is not None and hmac.compare_digest(presented, self._key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self._is_protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self._authorized(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "unauthorized"})
            return
        body = (self._refusal and self._refusal(scope["path"])) or error_body(
            401, "missing or invalid internal key", code="unauthorized"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuses a request body over ``limit`` bytes with 413 in the JSON envelope while it arrives: a declared
    ``Content-Length`` over the limit before the app runs, a chunked body as soon as the bytes read pass the limit
    (``receive`` raises :class:`BodyTooLarge`, which FastAPI's body parsing and the error handlers pass on as a 413).
    So no route of a service ever holds more than ``limit`` bytes of a body, however it reads it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.limit:
            await _send_too_large(send, BodyTooLarge(self.limit))
            return
        received = 0
        body_complete = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, body_complete
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
                body_complete = not message.get("more_body", False)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 413 and not body_complete:
                    # However the route refused it (its own smaller limit, its own envelope): the rest of the body
                    # is not read; without this uvicorn would read and drop all of it.
                    message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge as exc:  # a route that reads the body itself and lets the exception through
            if started:
                raise
            await _send_too_large(send, exc)


class NulTargetMiddleware:
    """Refuses a request whose path or query string carries a NUL character (``%00``) with 400 in the envelope,
    before any route runs: no id, filter or name of any service holds one, and PostgreSQL cannot even compare text
    with a NUL in it (the query would fail with a 500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and (
            "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")
        ):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "NUL character in the request target"})
                return
            body = error_body(400, "the path or query contains a NUL character (%00)", code="nul_character")
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


async def _send_too_large(send: Send, exc: BodyTooLarge) -> None:
    body = error_body(413, exc.detail, code=exc.code)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


DOC_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")


def public_paths(*paths: str) -> Callable[[str], bool]:
    """``is_protected`` for a service where everything but ``paths`` and the OpenAPI docs needs the key."""
    allowed = frozenset((*paths, *DOC_PATHS))
    return lambda path: path not in allowed
