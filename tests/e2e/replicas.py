"""What the replica tests share (issue 16): a fresh PostgreSQL database per test, the runtimes and gateways on it as
real processes, and a v2 client's reading of frames."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from tests.e2e.system import Service, System, start_gateway, start_runtime, start_system

POSTGRES_URL = os.environ.get("CODELAB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
KEY = "replicas-internal-key-" + secrets.token_hex(8)


def long_message(tag: str, words: int, delay_ms: int) -> tuple[str, str]:
    """A user message the mock model answers word by word, ``delay_ms`` apart; and the answer's exact text."""
    said = [f"{tag}w{i}" for i in range(words)]
    return f"[[delay_ms:{delay_ms}]] {' '.join(said)}", " ".join(said)


async def create_database() -> str:
    try:
        admin = await asyncpg.connect(POSTGRES_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CODELAB_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL unreachable at {POSTGRES_URL}: {exc}")
        pytest.skip("PostgreSQL unreachable")
    name = f"replicas_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"


async def drop_database(url: str) -> None:
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()


@contextmanager
def running_replicas(
    tmp_path: Path, *, lease_seconds: float = 2.0, second_gateway: bool = True
) -> Iterator[tuple[System, str]]:
    """One llm-proxy, runtimes r1 and r2 on a fresh database (short lease, frequent takeover passes), gateway g1 in
    front of r1 and (``second_gateway``) g2 in front of r2; yields the system and the database's URL."""
    url = asyncio.run(create_database())
    runtime_env = {
        "AGENT_RUNTIME__DB_URL": url,
        "AGENT_RUNTIME__TAKEOVER_INTERVAL": "0.5",
        "AGENT_RUNTIME__LEASE_SECONDS": str(lease_seconds),
        "AGENT_RUNTIME__MULTI_AGENT_MODE": "false",
        "AGENT_RUNTIME__LOG_LEVEL": "INFO",
    }
    system = start_system(tmp_path, KEY, extra_env=runtime_env)
    try:
        system.services["r1"] = system.runtime
        r2 = start_runtime(system, "r2")
        if second_gateway:
            start_gateway(system, "g2", {"GATEWAY__AGENT_URL": r2.url})
        yield system, url
    finally:
        system.stop()
        asyncio.run(drop_database(url))


def ws_url(gateway: Service, session_id: str) -> str:
    return f"ws://127.0.0.1:{gateway.port}/api/v1/ws/{session_id}?protocol=2"


async def receive(ws: websockets.ClientConnection, until: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Frames until ``until(received)`` holds."""
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not until(received):
            received.append(json.loads(await ws.recv()))
    return received


async def take(ws: websockets.ClientConnection, count: int) -> list[dict[str, Any]]:
    return await receive(ws, lambda received: len(received) == count)


async def until_done(ws: websockets.ClientConnection, timeout: float = 30.0) -> list[dict[str, Any]]:
    return await receive(ws, lambda received: bool(received) and received[-1]["type"] == "done", timeout)


async def hello(ws: websockets.ClientConnection) -> None:
    await ws.send(json.dumps({"type": "hello", "protocol": 2}))
    await receive(ws, lambda received: bool(received) and received[-1]["type"] == "hello", 10)


def text_of(received: list[dict[str, Any]]) -> str:
    finals = [f["content"] for f in received if f["type"] == "assistant_message" and f.get("is_final")]
    assert len(finals) == 1, received
    return str(finals[0])


async def history(system: System, runtime: Service, session_id: str) -> list[tuple[str, str]]:
    async with httpx.AsyncClient(timeout=10, headers={"X-Internal-Auth": system.key}) as http:
        body = (await http.get(f"{runtime.url}/sessions/{session_id}/history")).json()
    return [(m["role"], m["content"]) for m in body["messages"]]
