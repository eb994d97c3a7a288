"""The durable inbox between runtime replicas as real processes on the machine's PostgreSQL (issue 16): a
``user_message`` sent through runtime r2 while r1 runs a long turn of the session is stored in the session's inbox
before r2 says it is queued; r2 is killed with SIGKILL before r1's turn ends; r1 then runs the queued message after
its turn, the history has it and its answer once, the client resuming through the other gateway gets the answer, and
the same ``client_message_id`` sent again replays it instead of starting a turn."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import websockets

from tests.e2e.replicas import (
    hello,
    history,
    long_message,
    receive,
    running_replicas,
    take,
    text_of,
    until_done,
    ws_url,
)
from tests.e2e.system import System

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[System, str]]:
    """Runtimes r1 and r2 on a fresh database, gateway g1 in front of r1 and g2 in front of r2."""
    with running_replicas(tmp_path) as running:
        yield running


async def inbox(url: str, session_id: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT client_message_id FROM session_inbox WHERE session_id = $1 ORDER BY id", session_id
        )
    finally:
        await connection.close()
    return [row[0] for row in rows]


def queued(received: list[dict[str, Any]]) -> bool:
    return bool(received) and received[-1]["type"] == "status" and received[-1]["metadata"]["code"] == "queued"


async def test_a_message_queued_through_a_replica_killed_while_it_waits_runs_once_on_the_owner(
    replicas: tuple[System, str],
) -> None:
    system, url = replicas
    g1, g2 = system.gateway, system.services["g2"]
    r1, r2 = system.services["r1"], system.services["r2"]
    session = "inbox-" + uuid.uuid4().hex[:8]
    long_question, long_answer = long_message("a", 80, 40)
    question, answer = "[[delay_ms:1]] queued while r1 was busy", "queued while r1 was busy"

    async with websockets.connect(ws_url(g1, session)) as owner:
        await hello(owner)
        await owner.send(json.dumps({"type": "user_message", "content": long_question, "client_message_id": "m1"}))
        await take(owner, 3)  # the long turn runs on r1
        async with websockets.connect(ws_url(g2, session)) as sender:
            await hello(sender)
            await sender.send(json.dumps({"type": "user_message", "content": question, "client_message_id": "m2"}))
            seen = await receive(sender, queued, 15)
            assert r2.process is not None
            r2.process.send_signal(signal.SIGKILL)
            r2.process.wait(10)
        stored = await inbox(url, session)
        owned = await until_done(owner, 30)
    assert stored == ["m2"], "the message was in the database when its replica died"
    assert text_of(owned) == long_answer

    # The client of the dead replica resumes through the other gateway and gets the answer (bounded wait: r1's
    # takeover pass runs every 0.5 s).
    last_seq = max((f["seq"] for f in seen if "seq" in f), default=0)
    async with websockets.connect(ws_url(g1, session)) as resumed:
        await hello(resumed)
        await resumed.send(json.dumps({"type": "resume", "last_seq": last_seq}))

        def answered(received: list[dict[str, Any]]) -> bool:
            finals = [f["content"] for f in received if f["type"] == "assistant_message" and f.get("is_final")]
            return answer in finals and received[-1]["type"] == "done"

        rest = await receive(resumed, answered, 60)
    assert rest[-1]["stop_reason"] == "completed"
    said = await history(system, r1, session)
    assert said.count(("user", question)) == 1
    assert said.count(("assistant", answer)) == 1
    assert said.index(("user", question)) > said.index(("assistant", long_answer)), "it ran after r1's turn"
    assert await inbox(url, session) == []

    # The same client_message_id again (through the surviving replica) replays the answer; no new turn.
    async with websockets.connect(ws_url(g1, session)) as client:
        await hello(client)
        await client.send(json.dumps({"type": "user_message", "content": question, "client_message_id": "m2"}))
        repeated = await until_done(client)
    assert text_of(repeated) == answer
    assert (await history(system, r1, session)).count(("user", question)) == 1
    assert r1.process is not None
    assert r1.process.poll() is None
