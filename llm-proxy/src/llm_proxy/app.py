"""The composition root: everything the app needs is built here from ``Settings`` and put on ``app.state``."""

from __future__ import annotations

from fastapi import FastAPI

from llm_proxy import __version__
from llm_proxy.api import router
from llm_proxy.providers.base import Provider
from llm_proxy.providers.mock import MockProvider
from llm_proxy.settings import Settings
from service_kit.errors import install_error_handlers
from service_kit.middleware import InternalAuthMiddleware, RequestContextMiddleware, public_paths
from service_kit.service import new_registry, service_routes


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="CodeLab llm-proxy", version=__version__)
    registry = new_registry()
    providers: dict[str, Provider] = {"mock": MockProvider(settings.mock_token_delay_ms / 1000)}
    app.state.settings = settings
    app.state.providers = providers
    app.state.registry = registry
    app.router.routes.extend(service_routes("llm-proxy", __version__, registry))
    app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(
        InternalAuthMiddleware,
        key=settings.internal_api_key.get_secret_value(),
        is_protected=public_paths("/health"),
    )
    app.add_middleware(RequestContextMiddleware)
    return app
