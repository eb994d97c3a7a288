"""Fencing (issue 16): a runtime replica stalled longer than its lease (SIGSTOP) loses its turn to another replica,
and when it wakes it writes nothing: its in-flight step rolls back (the lease fence, ``writer_lock.py``), it logs
the lost lease, and its client's stream goes on with the new owner's answer and ends with that turn's one ``done``.
Real processes on the machine's PostgreSQL: one llm-proxy, runtimes r1 and r2, gateway g1 in front of r1."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import websockets

from tests.e2e.replicas import (
    hello,
    history,
    long_message,
    running_replicas,
    take,
    text_of,
    until_done,
    ws_url,
)
from tests.e2e.system import Service, System

pytestmark = pytest.mark.timeout(180)

LEASE_SECONDS = 2.0


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[System, str]]:
    """Runtimes r1 and r2 on a fresh database, one gateway in front of r1."""
    with running_replicas(tmp_path, lease_seconds=LEASE_SECONDS, second_gateway=False) as (system, url):
        try:
            yield system, url
        finally:
            runtime = system.runtime.process
            if runtime is not None and runtime.poll() is None:
                runtime.send_signal(signal.SIGCONT)  # a failed test must not leave it stopped


async def written(url: str, session_id: str) -> tuple[list[str], int, int]:
    """What the database holds for the session: its event log's chunk types in order, its messages, its runs."""
    connection = await asyncpg.connect(url)
    try:
        events = await connection.fetch(
            "SELECT type FROM session_events WHERE session_id = $1 ORDER BY seq", session_id
        )
        messages = await connection.fetchval("SELECT count(*) FROM messages WHERE session_id = $1", session_id)
        runs = await connection.fetchval("SELECT count(*) FROM runs WHERE session_id = $1", session_id)
    finally:
        await connection.close()
    return [row["type"] for row in events], int(messages), int(runs)


async def logged(service: Service, text: str, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while text not in service.log.read_text(errors="replace"):
            await asyncio.sleep(0.05)


async def test_a_replica_that_wakes_after_losing_its_lease_writes_nothing(pair: tuple[System, str]) -> None:
    system, url = pair
    g1, r1, r2 = system.gateway, system.runtime, system.services["r2"]
    assert r1.process is not None
    session = "fencing-" + uuid.uuid4().hex[:8]
    question, answer = long_message("f", 40, 60)  # about 2.4 s of deltas
    async with websockets.connect(ws_url(g1, session)) as client:
        await hello(client)
        await client.send(json.dumps({"type": "user_message", "content": question, "client_message_id": "m1"}))
        seen = await take(client, 4)  # r1 streams the answer
        r1.process.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        async with asyncio.timeout(60):  # r1's lease expires; r2 takes the turn over and finishes it
            while ("assistant", answer) not in await history(system, r2, session):
                await asyncio.sleep(0.1)
        before = await written(url, session)
        assert time.monotonic() - stopped > LEASE_SECONDS
        r1.process.send_signal(signal.SIGCONT)
        rest = await until_done(client, 30)
        await logged(r1, "turn finished by the replica that took the session over", 20)
    frames = seen + rest
    assert text_of(frames) == answer
    assert [f["type"] for f in frames].count("done") == 1
    assert rest[-1]["stop_reason"] == "completed"
    assert not [f for f in frames if f["type"] == "error"], frames
    assert "session_lease_lost" in r1.log.read_text(errors="replace")
    assert await written(url, session) == before  # r1 wrote nothing after waking
    events, _, runs = before
    assert events.count("done") == 1
    assert runs == 1
    said = await history(system, r2, session)
    assert said.count(("user", question)) == 1
    assert said.count(("assistant", answer)) == 1

    # r1 lives on: its worker, lease and stream state serve the session's next turn.
    async with websockets.connect(ws_url(g1, session)) as client:
        await hello(client)
        await client.send(json.dumps({"type": "user_message", "content": "[[delay_ms:1]] still here"}))
        assert text_of(await until_done(client)) == "still here"
    assert r1.process.poll() is None
