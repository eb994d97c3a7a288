"""Fixtures: the app with its lifespan run, an httpx client on it, and a fake upstream server on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis.asyncio
from redis.exceptions import RedisError

from llm_proxy.app import create_app
from llm_proxy.metrics import Metrics
from llm_proxy.settings import Settings
from llm_proxy.shared_capacity import SharedCapacity
from service_kit.service import new_registry
from tests.fakes import FakeUpstream

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "bench"))
import chaos_relay  # the repository's fault relay, scripts/bench/chaos_relay.py

RelayProcess = chaos_relay.RelayProcess

KEY = "test-internal-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
REDIS_URL = os.environ.get("CODELAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("CODELAB_REQUIRE_REDIS") == "1"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "internal_api_key": KEY,
        "mock_token_delay_ms": 0,
        "retry_backoff_s": 0,
        "retry_backoff_max_s": 0,
        "first_byte_timeout_s": 5,
        "inter_chunk_timeout_s": 5,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def fake_openai_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def proxy_url(fake_openai_port: int) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "LLM_PROXY__PORT": str(port),
        "LLM_PROXY__INTERNAL_API_KEY": KEY,
        "LLM_PROXY__MOCK_TOKEN_DELAY_MS": "1",
        "LLM_PROXY__MAX_RETRIES": "0",
        "LLM_PROXY__HEARTBEAT_INTERVAL_S": "0.05",
        "LLM_PROXY__OPENAI_BASE_URL": f"http://127.0.0.1:{fake_openai_port}/v1",
        "LLM_PROXY__LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "llm_proxy"], env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise RuntimeError("the proxy did not start")
        yield url + "/v1"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def proxy_client() -> Callable[..., Any]:
    """``async with proxy_client(**settings) as client`` → an httpx client on a running app."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def open_client(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(make_settings(**overrides))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://proxy", headers=AUTH) as client:
                client.app = app  # type: ignore[attr-defined]
                yield client

    return open_client


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    server = FakeUpstream()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def redis_url() -> str:
    """The real Redis (``CODELAB_TEST_REDIS_URL``); skipped when it does not answer, failed under
    ``CODELAB_REQUIRE_REDIS=1`` (CI)."""
    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        if REQUIRE_REDIS:
            pytest.fail(f"Redis unreachable at {REDIS_URL} and CODELAB_REQUIRE_REDIS=1: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    finally:
        await client.aclose()
    return REDIS_URL


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


Replica = Callable[..., AbstractAsyncContextManager[SharedCapacity]]


@pytest.fixture
def replica(redis_url: str, redis_prefix: str) -> Replica:
    """``async with replica() as shared`` → one replica's shared capacity (its own client) on the test's prefix."""

    @asynccontextmanager
    async def open_replica(url: str = redis_url, **overrides: Any) -> AsyncIterator[SharedCapacity]:
        settings = make_settings(redis_url=url, redis_prefix=redis_prefix, cooldown_s=5, **overrides)
        shared = await SharedCapacity.start(settings, Metrics(new_registry()))
        try:
            yield shared
        finally:
            await shared.aclose()

    return open_replica


@pytest.fixture
async def redis_relay(redis_url: str) -> AsyncIterator[RelayProcess]:
    """The fault relay as a process in front of the real Redis (``redis://127.0.0.1:<relay.port>/0``)."""
    target = urlsplit(redis_url)
    async with chaos_relay.spawn(f"{target.hostname}:{target.port or 6379}") as relay:
        yield relay
