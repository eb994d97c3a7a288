"""Shared fixtures: database URLs for SQLite files and the real PostgreSQL, and a running app with a fake model."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from agent_runtime.app import create_app
from agent_runtime.settings import Settings
from tests.fake_llm import FakeLLM

KEY = "test-internal-key-0123456789"
POSTGRES_URL = os.environ.get("CODELAB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("CODELAB_REQUIRE_POSTGRES") == "1"
# A test that does not name its llm-proxy must never reach a real one (scripts/dev.sh's on 8002 answers 401 to the
# tests' key): port 9 refuses, as the default does on a machine where nothing runs.
os.environ["AGENT_RUNTIME__LLM_PROXY_URL"] = "http://127.0.0.1:9"


async def _postgres_reachable() -> bool:
    try:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=15)  # a bound: a loaded host connects slowly
    except (OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards (parallel runs never collide)."""
    if not await _postgres_reachable():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL unreachable at {POSTGRES_URL} and CODELAB_REQUIRE_POSTGRES=1")
        pytest.skip("PostgreSQL unreachable")
    name = f"ar_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = POSTGRES_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runtime.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on a SQLite file and once on the real PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def make_settings(tmp_path: Path, db_url: str | None = None, **overrides: Any) -> Settings:
    return Settings(
        internal_api_key=KEY,  # type: ignore[arg-type]
        data_dir=tmp_path,
        db_url=db_url,
        heartbeat_interval=overrides.pop("heartbeat_interval", 5.0),
        # One agent unless a test asks for routing: the core's route tests assert the model's chunks exactly.
        multi_agent_mode=overrides.pop("multi_agent_mode", False),
        **overrides,
    )


@pytest.fixture
def fake_llm() -> FakeLLM:
    return FakeLLM(["Hello", " world", "!"])


@pytest.fixture
async def client(tmp_path: Path, fake_llm: FakeLLM) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a SQLite file, lifespan running, reached through ASGI with the internal key (single-agent mode)."""
    async with app_client(create_app(make_settings(tmp_path), llm=fake_llm)) as http:
        yield http


@pytest.fixture
async def multi_agent_client(tmp_path: Path, fake_llm: FakeLLM) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``client``, in multi-agent mode (the orchestrator and the specialists)."""
    async with app_client(create_app(make_settings(tmp_path, multi_agent_mode=True), llm=fake_llm)) as http:
        yield http


@asynccontextmanager
async def app_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` with its lifespan running, reached through ASGI with the internal key."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://runtime", headers={"X-Internal-Auth": KEY}
        ) as http:
            http.app = app  # type: ignore[attr-defined]
            yield http
