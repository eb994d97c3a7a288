"""The durable inbox between runtime replicas on one PostgreSQL database (issue 16): a user message that reaches a
replica while another replica's turn holds the session is stored in the session's inbox before the client hears it
is queued; a resend of its client message id through any replica is "in progress" meanwhile; it runs exactly once,
on whichever replica holds the session next, and the replica that received it relays the answer. The kill -9 case
with real processes is in ``tests/e2e/test_replica_inbox.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from agent_runtime.app import create_app
from agent_runtime.infrastructure import writer_lock
from tests.api.test_replicas import SecondTurnHeld
from tests.api.test_session_events_sse import read_events, serving, turn
from tests.conftest import make_settings
from tests.fake_llm import FakeLLM

pytestmark = pytest.mark.timeout(60)
TOKENS = [f"t{i} " for i in range(4)]


async def until_done(lines: AsyncIterator[str]) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    while not chunks or chunks[-1]["type"] != "done":
        events, _ = await asyncio.wait_for(read_events(lines, 1), 10)
        chunks.extend(chunk for _, chunk in events)
    return chunks


async def queued_entries(app: Any) -> list[tuple[str, str]]:
    async with app.state.engine.connect() as connection:
        rows = await connection.execute(text("SELECT session_id, client_message_id FROM session_inbox ORDER BY id"))
        return [(row[0], row[1]) for row in rows]


def message(content: str, client_message_id: str | None = None) -> dict[str, Any]:
    frame = {"type": "user_message", "content": content, "client_message_id": client_message_id}
    return {"session_id": "s1", "message": frame}


async def test_a_message_waiting_for_another_replica_is_queued_durably_and_in_progress_everywhere(
    tmp_path: Path, postgres_url: str
) -> None:
    llm = SecondTurnHeld(TOKENS, hold_after=2)
    owner = create_app(make_settings(tmp_path / "a", postgres_url, heartbeat_interval=0.2), llm=llm)
    other = create_app(make_settings(tmp_path / "b", postgres_url, heartbeat_interval=0.2), llm=FakeLLM(["next"]))
    async with serving(owner) as a, serving(other) as b:
        await turn(a, "s1", "hello")
        async with a.stream("POST", "/agent/message/stream", json=message("go")) as post:
            posted = post.aiter_lines()
            await asyncio.wait_for(read_events(posted, 2), 10)  # the turn holds on a
            async with b.stream("POST", "/agent/message/stream", json=message("then", "c1")) as waiting:
                lines = waiting.aiter_lines()
                notice, _ = await asyncio.wait_for(read_events(lines, 1), 10)
                stored = await queued_entries(owner)  # committed before the notice went out
                again = await a.post("/agent/message/stream", json=message("then", "c1"))
                other_content = await a.post("/agent/message/stream", json=message("else", "c1"))
                llm.gate.set()
                rest = await until_done(lines)
            await until_done(posted)
        left = await queued_entries(owner)
        history = (await a.get("/sessions/s1/history")).json()
        repeated = await a.post("/agent/message/stream", json=message("then", "c1"))
    assert notice[0][1]["metadata"]["code"] == "queued"
    assert stored == [("s1", "c1")]
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "in_progress"
    assert other_content.status_code == 422
    assert rest[-1]["stop_reason"] == "completed"
    assert [c["content"] for c in rest if c.get("is_final")] == ["next"]
    assert left == []  # consumed with the user message
    assert [m["content"] for m in history["messages"]][-4:] == ["go", "".join(TOKENS), "then", "next"]
    assert repeated.status_code == 200
    assert '"content":"next"' in repeated.text  # the answer replayed, no new turn
    assert llm.calls == 2


async def test_a_queued_message_run_by_another_replica_is_relayed_by_the_one_that_received_it(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner drains the inbox before the receiving replica polls the lease again: the message runs once, on the
    owner, and the receiving replica's client gets that answer."""
    monkeypatch.setattr(writer_lock, "_FIRST_WAIT", 5.0)  # the receiving replica polls the lease again after 5 s
    monkeypatch.setattr(writer_lock, "_LONGEST_WAIT", 5.0)
    llm = SecondTurnHeld(TOKENS, hold_after=2)
    receiver_llm = FakeLLM(["never"])
    owner = create_app(make_settings(tmp_path / "a", postgres_url, heartbeat_interval=0.2), llm=llm)
    other = create_app(make_settings(tmp_path / "b", postgres_url, heartbeat_interval=0.2), llm=receiver_llm)
    async with serving(owner) as a, serving(other) as b:
        await turn(a, "s1", "hello")
        async with a.stream("POST", "/agent/message/stream", json=message("go")) as post:
            posted = post.aiter_lines()
            await asyncio.wait_for(read_events(posted, 2), 10)
            async with b.stream("POST", "/agent/message/stream", json=message("then")) as waiting:
                lines = waiting.aiter_lines()
                notice, _ = await asyncio.wait_for(read_events(lines, 1), 10)
                llm.gate.set()
                await until_done(posted)
                await owner.state.runs.recover()  # the owner's pass finds the queued message, the session free
                relayed = await until_done(lines)
        history = (await a.get("/sessions/s1/history")).json()
        left = await queued_entries(owner)
    assert notice[0][1]["metadata"]["code"] == "queued"
    answer = "".join(TOKENS)  # the owner's model answers the third call like the others
    assert [c["content"] for c in relayed if c.get("is_final")] == [answer]
    assert relayed[-1]["stop_reason"] == "completed"
    assert [m["content"] for m in history["messages"]][-4:] == ["go", answer, "then", answer]
    assert receiver_llm.requests == []  # it ran once, on the owner
    assert left == []


async def test_queued_messages_run_in_the_order_they_were_stored(tmp_path: Path, postgres_url: str) -> None:
    """An older entry (of a replica that died while it waited) runs before the receiving replica's own, and the
    receiving replica's client sees only its own answer."""
    llm = SecondTurnHeld(TOKENS, hold_after=2)
    owner = create_app(make_settings(tmp_path / "a", postgres_url, heartbeat_interval=0.2), llm=llm)
    other = create_app(make_settings(tmp_path / "b", postgres_url, heartbeat_interval=0.2), llm=FakeLLM(["next"]))
    async with serving(owner) as a, serving(other) as b:
        await turn(a, "s1", "hello")
        async with a.stream("POST", "/agent/message/stream", json=message("go")) as post:
            posted = post.aiter_lines()
            await asyncio.wait_for(read_events(posted, 2), 10)
            async with owner.state.uows() as uow:  # what a replica that died left queued
                dead = {"message": {"type": "user_message", "content": "older"}, "correlation_id": None}
                await uow.inbox.add("s1", None, "dead-1", dead, owner.state.commands.now())
                await uow.commit()
            async with b.stream("POST", "/agent/message/stream", json=message("then")) as waiting:
                lines = waiting.aiter_lines()
                notice, _ = await asyncio.wait_for(read_events(lines, 1), 10)
                llm.gate.set()
                await until_done(posted)
                own = await until_done(lines)
        history = (await a.get("/sessions/s1/history")).json()
        left = await queued_entries(owner)
    said = [(m["role"], m["content"]) for m in history["messages"]]
    assert notice[0][1]["metadata"]["code"] == "queued"
    assert said.count(("user", "older")) == 1
    assert said.count(("user", "then")) == 1
    assert said.index(("user", "older")) < said.index(("user", "then"))
    assert said[-1] == ("assistant", "next")
    assert [c["content"] for c in own if c.get("is_final")] == ["next"]
    assert left == []


async def test_a_message_behind_one_waiting_for_another_replica_is_queued_durably_too(
    tmp_path: Path, postgres_url: str
) -> None:
    """The second message waits on the receiving replica behind the first, which waits for the other replica: it
    is in the inbox too before its client hears it is queued (if the receiving replica dies, neither is lost)."""
    llm = SecondTurnHeld(TOKENS, hold_after=2)
    owner = create_app(make_settings(tmp_path / "a", postgres_url, heartbeat_interval=0.2), llm=llm)
    other = create_app(make_settings(tmp_path / "b", postgres_url, heartbeat_interval=0.2), llm=FakeLLM(["next"]))
    async with serving(owner) as a, serving(other) as b:
        await turn(a, "s1", "hello")
        async with a.stream("POST", "/agent/message/stream", json=message("go")) as post:
            posted = post.aiter_lines()
            await asyncio.wait_for(read_events(posted, 2), 10)
            async with b.stream("POST", "/agent/message/stream", json=message("first", "f1")) as first:
                first_lines = first.aiter_lines()
                await asyncio.wait_for(read_events(first_lines, 1), 10)  # waits for a's turn: in the inbox
                async with b.stream("POST", "/agent/message/stream", json=message("second", "f2")) as second:
                    second_lines = second.aiter_lines()
                    await asyncio.wait_for(read_events(second_lines, 1), 10)  # queued behind it on b
                    stored = await queued_entries(owner)
                    llm.gate.set()
                    await until_done(posted)
                    first_answer = await until_done(first_lines)
                    second_answer = await until_done(second_lines)
        history = (await a.get("/sessions/s1/history")).json()
    assert stored == [("s1", "f1"), ("s1", "f2")]
    assert first_answer[-1]["stop_reason"] == "completed"
    assert second_answer[-1]["stop_reason"] == "completed"
    assert [m["content"] for m in history["messages"]][-4:] == ["first", "next", "second", "next"]


async def test_an_entry_whose_message_was_answered_meanwhile_is_dropped_not_run(
    tmp_path: Path, postgres_url: str
) -> None:
    """A resend through another replica ran the message while its inbox entry waited: the next pass drops the entry
    (a command, like consuming it) and runs nothing a second time."""
    app = create_app(make_settings(tmp_path / "a", postgres_url, heartbeat_interval=0.2), llm=FakeLLM(["answer"]))
    async with serving(app) as a:
        async with a.stream("POST", "/agent/message/stream", json=message("once", "m1")) as post:
            await until_done(post.aiter_lines())
        async with app.state.uows() as uow:  # the entry the receiving replica stored before the resend was answered
            frame = {"message": {"type": "user_message", "content": "once"}, "correlation_id": None}
            await uow.inbox.add("s1", None, "m1", frame, app.state.commands.now())
            await uow.commit()
        await app.state.runs.recover()
        await app.state.runs.idle("s1")
        history = (await a.get("/sessions/s1/history")).json()
        left = await queued_entries(app)
    assert [(m["role"], m["content"]) for m in history["messages"]] == [("user", "once"), ("assistant", "answer")]
    assert left == []
