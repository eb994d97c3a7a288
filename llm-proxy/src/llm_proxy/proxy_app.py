"""The proxy's FastAPI app, with a short way in for ``POST /v1/chat/completions``.

Under load the proxy's cost per request is mostly framework: FastAPI's own middleware (server errors, telemetry,
body limit, exception handlers, exit stack) and its router added ~15% of a short request's CPU and two more
``send`` layers per streamed chunk. The completion route needs none of them: it reads its own body with a limit,
answers its own errors in the envelope, and has no dependencies. So a POST to it goes through the *same user
middleware* (request id and access log, internal key: ``app.user_middleware``, whatever was added) straight to
the endpoint; everything else, including other methods on that path, takes the normal FastAPI route.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_kit.errors import error_body


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
                body = error_body(500, "internal server error")
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 500, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            raise


class ProxyApp(FastAPI):
    """A FastAPI app that hands ``POST <hot_path>`` to ``hot_endpoint`` through the user middleware only."""

    def __init__(self, *, hot_path: str, hot_endpoint: ASGIApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hot_path = hot_path
        self._hot_endpoint = hot_endpoint
        self._hot_stack: ASGIApp | None = None

    def _build_hot_stack(self) -> ASGIApp:
        app: ASGIApp = self._hot_endpoint
        for middleware in reversed(self.user_middleware):  # as Starlette builds its stack, same order
            cls, args, kwargs = middleware
            app = cls(app, *args, **kwargs)
        return _ServerErrorGuard(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self._hot_path and scope["method"] == "POST":
            if self._hot_stack is None:
                self._hot_stack = self._build_hot_stack()
            scope["app"] = self
            await self._hot_stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
