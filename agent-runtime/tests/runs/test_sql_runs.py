"""The agent loop on the real SQL unit of work (SQLite file and PostgreSQL): what it writes is what it reads back,
and a new engine on the same database continues where the old one stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from agent_runtime.infrastructure.database import create_engine, normalise_db_url
from agent_runtime.infrastructure.migrator import upgrade
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory
from agent_runtime.runs.expiry import expire_stale_approvals
from agent_runtime.runs.services import RunSettings

from .harness import SESSION, Harness, shape, tool_result, user


@pytest.fixture
async def uows(db_url: str, tmp_path: Path) -> AsyncIterator[SqlAlchemyUnitOfWorkFactory]:
    engine = create_engine(normalise_db_url(db_url, tmp_path))
    await upgrade(engine)
    yield SqlAlchemyUnitOfWorkFactory(engine)
    await engine.dispose()


async def test_tool_calls_and_an_edited_approval_persist_and_continue_after_a_restart(
    uows: SqlAlchemyUnitOfWorkFactory,
) -> None:
    harness = Harness(multi_agent=False, uows=uows)
    script = (
        '[[text:Two steps.]] [[tool:read_file {"path": "a.txt"}]] [[tool:write_file {"path": "b.md", "content": "x"}]]'
    )
    first = await harness.send(user(script))
    second = await harness.send(tool_result(first[-2]["call_id"], {"success": True, "content": "a"}))
    edited = {"path": "b.md", "content": "edited"}
    third = await harness.send(
        {"type": "hitl_decision", "call_id": second[0]["call_id"], "decision": "edit", "modified_arguments": edited}
    )
    await harness.engine.aclose()

    restarted = Harness(multi_agent=False, uows=uows)
    assert await restarted.engine.recover() == 0
    last = await restarted.send(tool_result(second[0]["call_id"], {"success": True, "bytes_written": 6}))
    duplicate = await restarted.send(tool_result(second[0]["call_id"], {"success": True}))

    assert shape(first)[-2:] == [("tool_call", "read_file", False), ("done", "tool_call")]
    assert shape(second) == [("tool_call", "write_file", True), ("done", "approval")]
    assert shape(third) == [("tool_call", "write_file", False), ("done", "tool_call")]
    assert third[0]["arguments"] == edited
    assert shape(last) == [("delta", "Done."), ("final", "Done."), ("done", "completed")]
    assert shape(duplicate) == [("status", "duplicate_tool_result"), ("done", "completed")]
    history = await restarted.stored_history()
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "tool", "assistant"]
    assert len(history[1]["tool_calls"]) == 2
    assert '"content":"edited"' in history[3]["content"]
    logged = await restarted.stored_log()
    seqs = [c["seq"] for c in logged]
    assert seqs == sorted(set(seqs))
    assert [c["type"] for c in logged].count("done") == 4


async def test_a_plan_runs_to_completion_on_sql(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    harness = Harness(uows=uows)
    plan = (
        '{"goal": "g", "subtasks": [{"title": "one", "description": "first", "agent": "coder"},'
        ' {"title": "two", "description": "second", "agent": "ask", "depends_on": [1]}]}'
    )
    proposed = await harness.send(user(f"[[route:architect 0.9 plan]] [[tool:create_plan {plan}]]"))
    approval = proposed[1]

    chunks = await harness.send(
        {"type": "plan_decision", "decision": "approve", "approval_request_id": approval["approval_request_id"]}
    )

    assert shape(proposed)[-1] == ("done", "plan_approval")
    assert [c for c in shape(chunks) if c[0] in ("plan_progress", "agent_switched", "done")] == [
        ("plan_progress", "approved"),
        ("plan_progress", "in_progress"),
        ("agent_switched", "architect", "coder"),
        ("plan_progress", "completed"),
        ("plan_progress", "in_progress"),
        ("agent_switched", "coder", "ask"),
        ("plan_progress", "completed"),
        ("plan_progress", "completed"),
        ("done", "completed"),
    ]


async def test_concurrent_sessions_run_side_by_side_without_mixing(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    harness = Harness(multi_agent=False, uows=uows)
    sessions = [f"c{index}" for index in range(6)]

    results = await asyncio.gather(
        *(harness.send(user(f"[[text:answer for {sid}]] q"), session_id=sid) for sid in sessions)
    )

    for sid, chunks in zip(sessions, results, strict=True):
        assert shape(chunks)[-2:] == [("final", f"answer for {sid}"), ("done", "completed")]
        assert {c["session_id"] for c in chunks} == {sid}
        seqs = [c["seq"] for c in chunks]
        assert seqs == sorted(set(seqs))
        assert [m["role"] for m in await harness.stored_history(sid)] == ["user", "assistant"]


async def test_the_approval_sweeper_expires_an_approval_left_undecided_across_a_restart(
    uows: SqlAlchemyUnitOfWorkFactory,
) -> None:
    settings, ttl = RunSettings(approval_ttl_seconds=60), timedelta(seconds=60)
    harness = Harness(multi_agent=False, uows=uows, settings=settings)
    asked = await harness.send(user('[[tool:write_file {"path": "b.md", "content": "x"}]]'))
    await harness.engine.aclose()
    restarted = Harness(multi_agent=False, uows=uows, settings=settings)
    restarted.clock.now += timedelta(minutes=5)

    assert await expire_stale_approvals(restarted.engine, uows, ttl=ttl, now=restarted.clock.now) == 1

    assert shape(asked) == [("tool_call", "write_file", True), ("done", "approval")]
    assert shape(await restarted.stored_log())[-2:] == [("error", "approval_expired"), ("done", "error")]
    async with uows(write=False) as uow:
        assert await uow.approvals.pending(SESSION) == []
        assert await uow.tool_calls.outstanding(SESSION) == []
    history = await restarted.stored_history()
    assert (history[-1]["role"], history[-1]["tool_call_id"]) == ("tool", asked[0]["call_id"])
    assert await expire_stale_approvals(restarted.engine, uows, ttl=ttl, now=restarted.clock.now) == 0


async def test_an_edit_that_asks_again_opens_a_new_approval_on_sql(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    harness = Harness(multi_agent=False, uows=uows)
    first = await harness.send(user('[[tool:execute_command {"command": "npm test"}]]'))
    call_id = first[0]["call_id"]
    edit = {"type": "hitl_decision", "call_id": call_id, "decision": "edit"}

    renewed = await harness.send({**edit, "modified_arguments": {"command": "cat .e*"}})
    approved = await harness.send({"type": "hitl_decision", "call_id": call_id, "decision": "approve"})
    result = await harness.send(tool_result(call_id, {"stdout": "", "exit_code": 0}))

    assert shape(renewed) == [("tool_call", "execute_command", True), ("done", "approval")]
    assert renewed[0]["approval_request_id"] != first[0]["approval_request_id"]
    assert shape(approved) == [("done", "tool_call")]
    assert shape(result)[-1] == ("done", "completed")


async def test_always_allow_rules_persist_on_the_session(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    harness = Harness(multi_agent=False, uows=uows)
    first = await harness.send(user('[[tool:execute_command {"command": "npm run build"}]]'))
    call_id = first[0]["call_id"]
    await harness.send({"type": "hitl_decision", "call_id": call_id, "decision": "approve", "always": True})
    await harness.send(tool_result(call_id, {"stdout": "", "exit_code": 0}))
    await harness.engine.aclose()

    restarted = Harness(multi_agent=False, uows=uows)
    again = await restarted.send(user('[[tool:execute_command {"command": "npm run build"}]]'))

    assert shape(again)[0] == ("tool_call", "execute_command", False)
