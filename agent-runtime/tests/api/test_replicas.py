"""Two runtime replicas on one PostgreSQL database, each on its own uvicorn server: a turn running on one is
followed live and cancelled through the other (ADR 8). The multi-process version is in ``tests/e2e``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent_runtime.app import create_app
from tests.api.test_session_events_sse import GatedLLM, read_events, serving, turn
from tests.conftest import make_settings
from tests.fake_llm import FakeLLM

pytestmark = pytest.mark.timeout(60)


class SecondTurnHeld(GatedLLM):
    """The first turn streams through; the second holds after ``hold_after`` tokens until ``gate`` is set."""

    def __init__(self, tokens: list[str], hold_after: int) -> None:
        super().__init__(tokens, hold_after)
        self.calls = 0

    async def stream_chat(self, **request: Any) -> AsyncIterator[dict[str, Any]]:
        self.calls += 1
        if self.calls == 1:
            self.gate.set()
        elif self.calls == 2:
            self.gate.clear()
        async for chunk in super().stream_chat(**request):
            yield chunk


async def test_a_turn_on_one_replica_is_followed_live_and_cancelled_through_the_other(
    tmp_path: Path, postgres_url: str
) -> None:
    tokens = [f"t{i} " for i in range(6)]
    llm = SecondTurnHeld(tokens, hold_after=3)
    owner = create_app(make_settings(tmp_path / "a", postgres_url, heartbeat_interval=0.2), llm=llm)
    other = create_app(make_settings(tmp_path / "b", postgres_url, heartbeat_interval=0.2), llm=FakeLLM())
    async with serving(owner) as a, serving(other) as b:
        first = await turn(a, "s1", "hello")  # the session exists; its first turn is in the log
        async with b.stream("GET", "/sessions/s1/events", params={"after": first[-1]}) as follow:
            following = follow.aiter_lines()
            body = {"session_id": "s1", "message": {"type": "user_message", "content": "go"}}
            async with a.stream("POST", "/agent/message/stream", json=body) as post:
                posted = post.aiter_lines()
                live, _ = await asyncio.wait_for(read_events(following, 3), 10)  # on b while the turn holds on a
                assert [c.get("token") for _, c in live] == tokens[:3]
                sent, _ = await asyncio.wait_for(read_events(posted, 3), 10)
                assert [seq for seq, _ in live] == [seq for seq, _ in sent]

                cancel = await b.post("/agent/message/stream", json={"session_id": "s1", "message": {"type": "cancel"}})
                assert cancel.status_code == 200
                # The held turn has no other way to end: it ending at all shows the cancel crossed replicas.
                ended, _ = await asyncio.wait_for(read_events(posted, 1), 10)
            seen, _ = await asyncio.wait_for(read_events(following, 1), 5)
    assert ended[0][1]["type"] == "done"
    assert ended[0][1]["stop_reason"] == "cancelled"
    assert seen == ended  # the follower on b saw the owner's end too
    assert llm.calls == 2


async def test_a_replica_starting_mid_turn_interrupts_nothing_and_a_stopped_replicas_turn_is_taken_over(
    tmp_path: Path, postgres_url: str
) -> None:
    tokens = [f"t{i} " for i in range(4)]
    llm = SecondTurnHeld(tokens, hold_after=2)
    settings = {"heartbeat_interval": 0.2, "takeover_interval": 0.3}
    # The owner's own takeover passes stay out of it: its engine is stopped below as a dead process's would be,
    # but its lifespan (with its passes) goes on; only the other replica may take the turn over.
    owner = create_app(make_settings(tmp_path / "a", postgres_url, **settings | {"takeover_interval": 3600}), llm=llm)
    other = create_app(make_settings(tmp_path / "b", postgres_url, **settings), llm=FakeLLM(tokens))
    async with serving(other) as b, serving(owner) as a:
        await turn(a, "s1", "hello")
        body = {"session_id": "s1", "message": {"type": "user_message", "content": "go"}}
        async with a.stream("POST", "/agent/message/stream", json=body) as post:
            posted = post.aiter_lines()
            await asyncio.wait_for(read_events(posted, 2), 10)  # the turn holds on a
            third = create_app(make_settings(tmp_path / "c", postgres_url, **settings), llm=FakeLLM())
            async with serving(third):  # its start-up recovery runs, and its takeover passes
                await asyncio.sleep(1.0)
            llm.gate.set()
            rest, _ = await asyncio.wait_for(read_events(posted, len(tokens) - 2 + 2), 10)
        assert [c["type"] for _, c in rest[-2:]] == ["assistant_message", "done"]
        assert rest[-1][1]["stop_reason"] == "completed"

        llm.calls = 1  # the next turn holds again
        async with b.stream("GET", "/sessions/s1/events", params={"after": rest[-1][0]}) as follow:
            following = follow.aiter_lines()
            async with a.stream("POST", "/agent/message/stream", json=body) as post:
                await asyncio.wait_for(read_events(post.aiter_lines(), 2), 10)
                await asyncio.wait_for(read_events(following, 2), 10)
                await owner.state.runs.aclose()  # the owner's workers are gone, its run is still marked running
                taken, _ = await asyncio.wait_for(read_events(following, 1 + len(tokens) + 2), 10)
        history = (await b.get("/sessions/s1/history")).json()
        metrics = (await b.get("/metrics")).text
    assert taken[0][1]["type"] == "message_reset"  # drop the deltas of the abandoned attempt
    assert [c.get("token") for _, c in taken[1:-2]] == tokens
    assert taken[-2][1]["content"] == "".join(tokens)
    assert taken[-1][1]["stop_reason"] == "completed"
    assert [m["content"] for m in history["messages"]][-2:] == ["go", "".join(tokens)]
    assert "agent_runtime_takeovers_total 1.0" in metrics
    assert "agent_runtime_fanout_relay_up 1.0" in metrics
    assert "agent_runtime_session_leases 0.0" in metrics


async def test_a_message_through_another_replica_waits_for_the_running_turn_and_says_so(
    tmp_path: Path, postgres_url: str
) -> None:
    tokens = [f"t{i} " for i in range(4)]
    llm = SecondTurnHeld(tokens, hold_after=2)
    owner = create_app(make_settings(tmp_path / "a", postgres_url, heartbeat_interval=0.2), llm=llm)
    other = create_app(make_settings(tmp_path / "b", postgres_url, heartbeat_interval=0.2), llm=FakeLLM(["next"]))
    async with serving(owner) as a, serving(other) as b:
        await turn(a, "s1", "hello")
        body = {"session_id": "s1", "message": {"type": "user_message", "content": "go"}}
        async with a.stream("POST", "/agent/message/stream", json=body) as post:
            posted = post.aiter_lines()
            await asyncio.wait_for(read_events(posted, 2), 10)  # the turn holds on a
            then = {"session_id": "s1", "message": {"type": "user_message", "content": "then"}}
            async with b.stream("POST", "/agent/message/stream", json=then) as waiting:
                lines = waiting.aiter_lines()
                notice, _ = await asyncio.wait_for(read_events(lines, 1), 10)
                llm.gate.set()
                rest, _ = await asyncio.wait_for(read_events(lines, 3), 10)
            await asyncio.wait_for(read_events(posted, len(tokens) - 2 + 2), 10)
        history = (await b.get("/sessions/s1/history")).json()
    assert notice[0][1]["type"] == "status"
    assert notice[0][1]["metadata"]["code"] == "queued"
    kinds = [c["type"] for _, c in rest]
    assert kinds[-1] == "done"
    assert rest[-1][1]["stop_reason"] == "completed"
    assert [m["content"] for m in history["messages"]][-4:] == ["go", "".join(tokens), "then", "next"]
