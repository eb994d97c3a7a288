"""The composition root: the runtime client is built in the lifespan and put on ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.routing import WebSocketRoute

from gateway import __version__
from gateway.runtime_client import RuntimeClient
from gateway.settings import Settings
from gateway.ws.endpoint import websocket_endpoint
from service_kit.errors import install_error_handlers
from service_kit.http import new_http_session
from service_kit.middleware import InternalAuthMiddleware, RequestContextMiddleware
from service_kit.service import new_registry, service_routes


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = new_http_session(connect_timeout=settings.agent_connect_timeout)
        app.state.runtime = RuntimeClient(
            http, settings.agent_url, settings.internal_api_key.get_secret_value(), settings.agent_stream_timeout
        )
        try:
            yield
        finally:
            await http.close()

    app = FastAPI(title="CodeLab gateway", version=__version__, lifespan=lifespan)
    registry = new_registry()
    app.state.settings = settings
    app.state.registry = registry
    app.router.routes.extend(service_routes("gateway", __version__, registry, ("/health", "/api/v1/health")))
    app.router.routes.append(WebSocketRoute("/api/v1/ws/{session_id}", websocket_endpoint))
    app.router.routes.append(WebSocketRoute("/ws/{session_id}", websocket_endpoint))
    install_error_handlers(app)
    # The IDE-facing surface is guarded by the user auth mode; only operator routes need the internal key.
    app.add_middleware(
        InternalAuthMiddleware,
        key=settings.internal_api_key.get_secret_value(),
        is_protected=lambda path: path == "/metrics",
    )
    app.add_middleware(RequestContextMiddleware)
    return app
