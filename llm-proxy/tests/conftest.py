"""Fixtures: the app with its lifespan run, an httpx client on it, and a fake upstream server on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from llm_proxy.app import create_app
from llm_proxy.settings import Settings
from tests.fakes import FakeUpstream

KEY = "test-internal-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


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
