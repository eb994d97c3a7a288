"""A real uvicorn server for tests that speak raw HTTP to it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from service_kit.service import server_options
from service_kit.settings import ServiceSettings


@contextlib.asynccontextmanager
async def running(app: Any, **settings: Any) -> AsyncIterator[int]:
    """``app`` served by a real uvicorn server with the services' own options (``settings`` as given) on a free
    loopback port, which it yields."""
    options = server_options(ServiceSettings(internal_api_key="k" * 16, **settings), lifespan="off")
    options.pop("loop")  # the test's loop runs it
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, **options))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
