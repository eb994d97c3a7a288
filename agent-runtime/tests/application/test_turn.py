"""A turn end to end on in-memory fakes: the chunks its follower sees, and what lands in the log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson

from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.event_bus import EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.turn import TurnHandle, TurnRunner
from agent_runtime.domain.run import RunStatus
from tests.fakes import FakeLLM, FakeLock, FakeUnitOfWorkFactory

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def build(llm: FakeLLM) -> tuple[TurnRunner, FakeUnitOfWorkFactory]:
    uows = FakeUnitOfWorkFactory()
    events = EventBus()
    fanout = SessionFanout()
    events.subscribe(fanout.on_event, category="stream")
    bus = CommandBus(uows, FakeLock(), events, HANDLERS, lambda: NOW)
    return TurnRunner(bus, uows, llm, fanout, model="mock"), uows


async def collect(handle: TurnHandle) -> list[tuple[int, dict[str, Any]]]:
    follower = await handle.ready
    out = []
    while True:
        seq, data = await asyncio.wait_for(follower.queue.get(), 5)
        chunk = orjson.loads(data)
        out.append((seq, chunk))
        if chunk["type"] == "done":
            return out


async def test_a_new_session_turn_streams_info_deltas_final_and_done() -> None:
    turns, _uows = build(FakeLLM(["Hel", "lo"]))
    chunks = await collect(turns.start(session_id=None, content="hello world", subject=None))
    kinds = [(c["type"], c.get("token"), c.get("content")) for _, c in chunks]
    assert kinds == [
        ("session_info", None, None),
        ("assistant_message", "Hel", None),
        ("assistant_message", "lo", None),
        ("assistant_message", None, "Hello"),
        ("done", None, None),
    ]
    seqs = [s for s, _ in chunks]
    assert seqs == sorted(set(seqs))
    assert chunks[-1][1]["usage"]["total_tokens"] == 5


async def test_only_durable_chunks_reach_the_log() -> None:
    turns, uows = build(FakeLLM(["a", "b", "c"]))
    handle = turns.start(session_id="s1", content="hi", subject=None)
    await collect(handle)
    logged = [e.type for e in uows.store.events["s1"]]
    assert logged == ["assistant_message", "done"]


async def test_the_model_sees_the_whole_history() -> None:
    llm = FakeLLM(["ok"])
    turns, _ = build(llm)
    await collect(turns.start(session_id="s1", content="first", subject=None))
    await collect(turns.start(session_id="s1", content="second", subject=None))
    assert [m["content"] for m in llm.calls[-1]["messages"]] == ["first", "ok", "second"]
    assert llm.calls[-1]["session_id"] == "s1"


async def test_a_model_failure_ends_the_run_with_error_and_done() -> None:
    turns, uows = build(FakeLLM(["a", "b"], fail_after=1))
    chunks = [c for _, c in await collect(turns.start(session_id="s1", content="hi", subject=None))]
    assert [c["type"] for c in chunks][-2:] == ["error", "done"]
    assert chunks[-1]["stop_reason"] == "error"
    assert "upstream exploded" in chunks[-2]["content"]
    (run,) = uows.store.runs.values()
    assert run.status is RunStatus.STOPPED


async def test_the_turn_finishes_when_nobody_follows_it() -> None:
    turns, uows = build(FakeLLM(["a"], delay=0.01))
    handle = turns.start(session_id="s1", content="hi", subject=None)
    await handle.ready  # the request went away right after the turn started
    for _ in range(200):
        if uows.store.events.get("s1") and uows.store.events["s1"][-1].type == "done":
            break
        await asyncio.sleep(0.01)
    assert [m.role for m in uows.store.messages["s1"]] == ["user", "assistant"]
