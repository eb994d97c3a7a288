"""The REST facade: ``/api/v1/{sessions,agents,events}…`` forwarded to the runtime by one generic path.

Method, query string, body and the runtime's status code are kept; the caller's subject goes along as
``X-Subject`` (the runtime answers 404 for another subject's session). When the runtime is down, slow or answers
garbage the client gets 503, 504 or 502 in the JSON error envelope.

``GET /sessions/{id}/events`` is the one stream: the runtime's SSE (the log after ``after`` or ``Last-Event-ID``,
then live events, with its heartbeats) is relayed as it comes, for as long as the client stays; the runtime's
follower is released when the client leaves, and a runtime that stops answering ends the stream with an ``error``
event.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from urllib.parse import unquote

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.auth import AuthFailed, AuthUnavailable, bearer_token
from gateway.context import GatewayContext
from gateway.runtime_client import ChunkStream, RuntimeRefused, RuntimeUnavailable
from service_kit.asgi import EventStream
from service_kit.errors import error_response
from service_kit.sse import encode

FORWARDED_SECTIONS = ("sessions", "agents", "events")
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
API_PREFIX = "/api/v1"
_EVENT_STREAM = re.compile(r"/sessions/[^/]+/events/?")


class RelayedEvents(Response):
    """The runtime's event stream, relayed to the client as it comes (see the module)."""

    def __init__(self, upstream: ChunkStream) -> None:
        super().__init__()
        self._upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with EventStream(receive, send) as stream:
            await stream.start()
            await stream.write_all(self._relayed())

    async def _relayed(self) -> AsyncGenerator[bytes, None]:
        try:
            async for data in self._upstream.raw():
                yield data
        except RuntimeUnavailable as exc:
            yield encode(orjson.dumps({"type": "error", "content": exc.message, "code": "upstream_unavailable"}))


async def forward(request: Request) -> Response:
    """Forwarded to the agent runtime unchanged (see the runtime's README for the endpoints and bodies)."""
    context: GatewayContext = request.app.state.gateway
    try:
        principal = await context.authenticator.authenticate(bearer_token(request.headers.get("authorization")))
    except AuthFailed as exc:
        return error_response(401, str(exc), code="unauthorized", headers={"WWW-Authenticate": "Bearer"})
    except AuthUnavailable:
        return error_response(503, "credentials cannot be checked right now; try again", code="auth_unavailable")
    body = await request.body()  # within GATEWAY__MAX_REQUEST_BYTES (BodyLimitMiddleware cuts it while it arrives)
    path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    if any(segment in (".", "..") for segment in unquote(path).split("/")):
        # A dot segment would walk out of the facade (/sessions/../agent/message/stream) on the runtime's side.
        return error_response(400, "invalid path", code="invalid_path")
    target = path.removeprefix(API_PREFIX)
    try:
        if request.method == "GET" and _EVENT_STREAM.fullmatch(target):
            query = f"?{request.url.query}" if request.url.query else ""
            last_event_id = request.headers.get("last-event-id")
            return RelayedEvents(await context.runtime.follow(target + query, principal.subject, last_event_id))
        answer = await context.runtime.forward(request.method, target, request.url.query, body, principal.subject)
    except RuntimeUnavailable as exc:
        context.metrics.error("rest_upstream")
        return error_response(exc.status, exc.message, code="upstream_unavailable")
    except RuntimeRefused as exc:
        return error_response(exc.status, exc.message)
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type)


async def forward_under(request: Request, rest: str) -> Response:
    """Forwarded to the agent runtime unchanged; ``rest`` is the path below the section (declared so the OpenAPI
    document names every path parameter)."""
    return await forward(request)


def rest_router() -> APIRouter:
    """One route pair per forwarded section (the section itself and everything under it)."""
    router = APIRouter(prefix=API_PREFIX, tags=["facade"])
    for section in FORWARDED_SECTIONS:
        for method in _METHODS:  # one route per method, so each has its own OpenAPI operation id
            name = f"{method.lower()}_{section}"
            router.add_api_route(f"/{section}", forward, methods=[method], name=name)
            router.add_api_route(f"/{section}/{{rest:path}}", forward_under, methods=[method], name=f"{name}_path")
    return router
