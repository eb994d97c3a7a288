"""The composition root: everything the routes use is built in the lifespan and put on ``app.state.gateway``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.routing import Route, WebSocketRoute

from gateway import __version__
from gateway.acp.endpoint import PATHS as ACP_PATHS
from gateway.acp.endpoint import acp_http, acp_websocket
from gateway.auth import Authenticator, JwtAuth, OpenAuth, TokenAuth
from gateway.context import GatewayContext
from gateway.identity.assembly import Identity, build_identity
from gateway.identity.endpoint import identity_router
from gateway.jwks import JwksKeys
from gateway.metrics import GatewayMetrics
from gateway.rest import rest_router
from gateway.runtime_client import RuntimeClient
from gateway.settings import Settings, is_loopback
from gateway.ws.endpoint import websocket_endpoint
from gateway.ws.live import LiveSockets
from service_kit.errors import install_error_handlers
from service_kit.http import new_http_session
from service_kit.middleware import BodyLimitMiddleware, InternalAuthMiddleware, RequestContextMiddleware
from service_kit.service import new_registry, service_routes
from service_kit.stream_client import StreamClient

_log = structlog.get_logger(__name__)
SHUTDOWN_CLOSE_TIMEOUT = 5.0


def build_authenticator(settings: Settings, http: aiohttp.ClientSession, identity: Identity | None) -> Authenticator:
    """The authenticator for ``GATEWAY__AUTH_MODE``; ``identity`` is the gateway's own issuer in the modes that
    have one."""
    if settings.auth_mode == "token":
        return TokenAuth(settings.token_table())
    if settings.auth_mode == "jwt":
        keys = JwksKeys(
            http,
            settings.jwt_jwks_url,
            ttl=settings.jwks_cache_seconds,
            min_refresh=settings.jwks_min_refresh_seconds,
        )
        return JwtAuth(
            keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=settings.jwt_algorithms,
            leeway=settings.jwt_leeway,
        )
    assert identity is not None
    return OpenAuth(identity.tokens)


def _announce_auth(settings: Settings) -> None:
    if settings.auth_mode == "none":
        exposure = "loopback only" if is_loopback(settings.host) else "FORCED on a non-loopback address"
        _log.warning("auth mode none: every client is anonymous (development)", host=settings.host, exposure=exposure)
    else:
        _log.info("auth mode", mode=settings.auth_mode, ws_anonymous=settings.ws_anonymous)


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> FastAPI:
    """The gateway app; nothing is connected until the lifespan starts."""
    registry = registry or new_registry()
    metrics = GatewayMetrics(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _announce_auth(settings)
        http = new_http_session(connect_timeout=settings.agent_connect_timeout)
        hop = StreamClient(settings.agent_url, connect_timeout=settings.agent_connect_timeout)
        key = settings.internal_api_key.get_secret_value()
        runtime = RuntimeClient(hop, key, settings.agent_stream_timeout, settings.agent_rest_timeout)
        live = LiveSockets()
        identity = build_identity(settings) if settings.issues_tokens else None
        app.state.gateway = GatewayContext(
            settings,
            runtime,
            build_authenticator(settings, http, identity),
            metrics,
            live,
            issuer=identity.issuer if identity else None,
            keys=identity.keys if identity else None,
        )
        try:
            yield
        finally:
            await live.close_all(SHUTDOWN_CLOSE_TIMEOUT)
            await hop.aclose()
            await http.close()
            if identity is not None:
                await identity.aclose()

    # FastAPI's native OpenTelemetry is off: nothing here configures a provider, so it only ever checked for one,
    # reading os.environ on every request and socket (4% of the gateway's samples under load).
    app = FastAPI(
        title="CodeLab gateway",
        version=__version__,
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.registry = registry
    app.router.routes.extend(service_routes("gateway", __version__, registry, ("/health", "/api/v1/health")))
    app.include_router(rest_router())
    if settings.issues_tokens:
        app.include_router(identity_router())
    app.router.routes.append(WebSocketRoute("/api/v1/ws/{session_id}", websocket_endpoint))
    app.router.routes.append(WebSocketRoute("/ws/{session_id}", websocket_endpoint))
    for path in ACP_PATHS:
        app.router.routes.append(WebSocketRoute(path, acp_websocket))
        app.router.routes.append(Route(path, acp_http, methods=["GET", "POST", "DELETE"], include_in_schema=False))
    install_error_handlers(app)
    # The IDE-facing surface is guarded by the user auth mode; only operator routes need the internal key.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_request_bytes)
    app.add_middleware(
        InternalAuthMiddleware,
        key=settings.internal_api_key.get_secret_value(),
        is_protected=lambda path: path == "/metrics",
    )
    app.add_middleware(RequestContextMiddleware)
    return app
