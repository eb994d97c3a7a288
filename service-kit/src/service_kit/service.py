"""The routes every service answers (``/health``, ``/metrics``) and the one way services are served."""

from __future__ import annotations

from typing import Any

import uvicorn
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service_kit.protocol import head_limited_protocol
from service_kit.settings import ServiceSettings


def new_registry() -> CollectorRegistry:
    """A registry per app (not the process-global one) with process, platform and GC collectors."""
    registry = CollectorRegistry()
    process_collector.ProcessCollector(registry=registry)
    platform_collector.PlatformCollector(registry=registry)
    gc_collector.GCCollector(registry=registry)
    return registry


def service_routes(
    service: str, version: str, registry: CollectorRegistry, health_paths: tuple[str, ...] = ("/health",)
) -> list[Route]:
    """``GET /health`` (public) and ``GET /metrics`` (Prometheus text)."""
    body = {"status": "ok", "service": service, "version": version}

    async def health(_: Request) -> Response:
        return JSONResponse(body)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    routes = [Route(path, health, methods=["GET"], name=f"health{i}") for i, path in enumerate(health_paths)]
    routes.append(Route("/metrics", metrics, methods=["GET"], name="metrics"))
    return routes


def server_options(settings: ServiceSettings, **overrides: Any) -> dict[str, Any]:
    """The uvicorn options every service runs with: uvloop + httptools (refusing a request head over
    ``max_header_bytes`` with 431 before any work, see ``service_kit.protocol``), no access log (the request-context
    middleware logs without query strings), logging left as ``configure_logging`` set it.

    WebSockets use wsproto: it passed the Autobahn cases where websockets-sansio did not (see doc/adr).
    """
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": head_limited_protocol(settings.max_header_bytes),
        "ws": "wsproto",
        "ws_per_message_deflate": False,
        "access_log": False,
        "log_config": None,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
    }
    options.update(overrides)
    return options


def serve(app: Any, settings: ServiceSettings, **overrides: Any) -> None:
    """Run ``app`` with ``server_options`` until SIGINT/SIGTERM."""
    uvicorn.run(app, **server_options(settings, **overrides))
