"""Shared fixtures: the fake runtime, gateway settings, and a real gateway server on a free port."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis.exceptions import RedisError

sys.path.insert(0, str(Path(__file__).parent))

from fake_agent import FakeAgent
from fake_issuer import issuer  # noqa: F401 -- a fixture
from fake_runtime import KEY, FakeRuntime

from gateway.app import create_app
from gateway.server import GatewayServer, server_config
from gateway.settings import Settings

# A test that does not name its runtime must never reach a real one (scripts/dev.sh's on 8001): port 9 refuses.
os.environ["GATEWAY__AGENT_URL"] = "http://127.0.0.1:9"

REDIS_URL = os.environ.get("CODELAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("CODELAB_REQUIRE_REDIS") == "1"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the real Redis (``CODELAB_TEST_REDIS_URL``), its keys deleted afterwards;
    skipped when Redis does not answer, failed under ``CODELAB_REQUIRE_REDIS=1`` (CI). Synchronous, so a fixture
    may ask for it by name (``request.getfixturevalue``)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=10, socket_timeout=10)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        client.close()
        if REQUIRE_REDIS:
            pytest.fail(f"Redis unreachable at {REDIS_URL} and CODELAB_REQUIRE_REDIS=1: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
async def runtime() -> AsyncIterator[FakeRuntime]:
    fake = FakeRuntime(FakeAgent())
    await fake.start()
    yield fake
    await fake.stop()


def make_settings(agent_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"internal_api_key": KEY, "agent_url": agent_url, "port": 0}
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class RunningGateway:
    server: GatewayServer
    http_url: str
    ws_url: str
    task: asyncio.Task[None]

    def ws(self, path: str) -> str:
        return f"{self.ws_url}{path}"

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.http_url, timeout=10, **kwargs)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[RunningGateway]:
    """The gateway app under the real server stack (uvicorn + wsproto) on a free loopback port."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = GatewayServer(server_config(app, settings, port=port), app)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield RunningGateway(server, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", task)
    finally:
        server.should_exit = True
        await task
        sock.close()


GatewayFactory = Callable[..., Any]


@pytest.fixture
async def gateway(runtime: FakeRuntime) -> AsyncIterator[RunningGateway]:
    """A gateway in auth mode none in front of the fake runtime."""
    async with serving(make_settings(runtime.url)) as running:
        yield running


@pytest.fixture
async def slow_runtime() -> AsyncIterator[FakeRuntime]:
    """A fake runtime whose replies take long enough (a few ms per token) to cut, queue or cancel mid-turn."""
    fake = FakeRuntime(FakeAgent(delay=0.002))
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def slow_gateway(slow_runtime: FakeRuntime) -> AsyncIterator[RunningGateway]:
    async with serving(make_settings(slow_runtime.url)) as running:
        yield running
