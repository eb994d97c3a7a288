"""Replicas as real processes on the machine's PostgreSQL (issue 16), the two edges of following and taking over: a
follower joining mid-turn through a runtime that was not listening to the session gets the turn's deltas so far
(every one, in seq order, once), and a tool call handed to the client is issued once though the runtimes running
the session are killed (kill -9) before its result and while the model answers it."""

from __future__ import annotations

import json
import signal
import time
import uuid
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.replicas import hello, long_message, receive, text_of, until_done, ws_url
from tests.e2e.system import Service, System, start_gateway, start_runtime

pytestmark = pytest.mark.timeout(240)


def deltas(received: list[dict[str, Any]]) -> list[int]:
    return [f["seq"] for f in received if f["type"] == "assistant_message" and not f.get("is_final")]


async def test_a_follower_joining_mid_turn_through_another_replica_gets_every_delta_so_far(cluster: System) -> None:
    g1, g2 = cluster.gateway, cluster.services["g2"]
    session = "catch-up-" + uuid.uuid4().hex[:8]
    question, answer = long_message("d", 80, 30)
    async with websockets.connect(ws_url(g1, session)) as owner:
        await hello(owner)
        await owner.send(json.dumps({"type": "user_message", "content": question}))
        seen = await receive(owner, lambda received: len(deltas(received)) >= 20)  # the turn runs on r1
        async with websockets.connect(ws_url(g2, session)) as follower:  # r2 has no follower of the session yet
            await hello(follower)
            asked = time.monotonic()
            await follower.send(json.dumps({"type": "resume", "last_seq": 0}))
            caught = await receive(follower, lambda received: len(deltas(received)) >= 20)
            print(f"\na follower joining after {len(deltas(seen))} deltas had the first 20 after "
                  f"{(time.monotonic() - asked) * 1000:.0f} ms")  # fmt: skip
            followed = caught + await until_done(follower)
        owned = seen + await until_done(owner)
    assert text_of(followed) == text_of(owned) == answer
    sent = [f["seq"] for f in followed if "seq" in f]
    assert sent == sorted(set(sent)), "in seq order, none twice"
    assert deltas(followed) == deltas(owned), "every delta of the turn, the ones before the follower joined too"


async def test_a_tool_call_handed_to_the_client_is_issued_once_though_its_owners_are_killed(cluster: System) -> None:
    """r1 hands the call to the client and is killed before the answer; the result goes through g2 to r2, which is
    killed while the model streams the reply; r3 takes the turn over and calls the model again, from the call and
    its result: the call is not issued again."""
    g1, g2 = cluster.gateway, cluster.services["g2"]
    r1, r2 = cluster.services["r1"], cluster.services["r2"]
    r3 = start_runtime(cluster, "r3")
    g3 = start_gateway(cluster, "g3", {"GATEWAY__AGENT_URL": r3.url})
    session = "tool-takeover-" + uuid.uuid4().hex[:8]
    answer = " ".join(f"n{i}" for i in range(60))
    question = f'[[tool:read_file {{"path": "notes.txt"}}]] [[2:delay_ms:40]] [[2:text:{answer}]] read my notes'
    async with websockets.connect(ws_url(g1, session)) as client:
        await hello(client)
        await client.send(json.dumps({"type": "user_message", "content": question}))
        handed = await until_done(client)
    assert handed[-1]["stop_reason"] == "tool_call"
    [call] = [f for f in handed if f["type"] == "tool_call"]
    kill(r1)  # before the client answers
    async with websockets.connect(ws_url(g2, session)) as client:
        await hello(client)
        result = {"success": True, "content": "hi", "lines_read": 1}
        await client.send(json.dumps({"type": "tool_result", "call_id": call["call_id"], "result": result}))
        streamed = await receive(client, lambda received: len(deltas(received)) >= 5)  # r2 streams the reply
        kill(r2)
    last_seq = max(f["seq"] for f in handed + streamed if "seq" in f)
    async with websockets.connect(ws_url(g3, session)) as client:
        await hello(client)
        await client.send(json.dumps({"type": "resume", "last_seq": last_seq}))
        rest = await until_done(client, 60)
    assert [f["type"] for f in rest].count("message_reset") == 1, "r3 took the turn over"
    assert rest[-1]["stop_reason"] == "completed"
    assert text_of(rest) == answer
    calls = [f for f in handed + streamed + rest if f["type"] == "tool_call"]
    assert calls == [call], "the tool call reached the client once, never again"
    messages = await messages_of(cluster, r3, session)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"], messages
    assert [c["id"] for c in messages[1]["tool_calls"]] == [call["call_id"]]
    assert messages[3]["content"] == answer
    assert not messages[3].get("tool_calls")


def kill(runtime: Service) -> None:
    assert runtime.process is not None
    runtime.process.send_signal(signal.SIGKILL)
    runtime.process.wait(10)


async def messages_of(system: System, runtime: Service, session_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10, headers={"X-Internal-Auth": system.key}) as http:
        answer = await http.get(f"{runtime.url}/sessions/{session_id}/history")
    answer.raise_for_status()
    return list(answer.json()["messages"])
