"""The composition root: engines, HTTP clients and the bus are built in the lifespan and put on ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from agent_runtime import __version__
from agent_runtime.api.stream import router as stream_router
from agent_runtime.infrastructure.llm_proxy_client import LLMProxyClient
from agent_runtime.settings import Settings
from service_kit.errors import install_error_handlers
from service_kit.http import new_http_session
from service_kit.middleware import InternalAuthMiddleware, RequestContextMiddleware, public_paths
from service_kit.service import new_registry, service_routes


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = new_http_session(connect_timeout=settings.llm_connect_timeout)
        app.state.llm = LLMProxyClient(http, settings.llm_proxy_url, settings.internal_api_key.get_secret_value())
        try:
            yield
        finally:
            await http.close()

    app = FastAPI(title="CodeLab agent-runtime", version=__version__, lifespan=lifespan)
    registry = new_registry()
    app.state.settings = settings
    app.state.registry = registry
    app.router.routes.extend(service_routes("agent-runtime", __version__, registry))
    app.include_router(stream_router)
    install_error_handlers(app)
    app.add_middleware(
        InternalAuthMiddleware,
        key=settings.internal_api_key.get_secret_value(),
        is_protected=public_paths("/health"),
    )
    app.add_middleware(RequestContextMiddleware)
    return app
