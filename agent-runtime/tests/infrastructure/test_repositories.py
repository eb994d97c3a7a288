"""The repository contract: the SQL repositories and unit of work on SQLite files and the real PostgreSQL, and the
in-memory fakes the run engine's tests use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from agent_runtime.application.ports import AuditEntry, UsageEntry
from agent_runtime.domain.approval import Approval, ApprovalKind, Decision
from agent_runtime.domain.client_tools import ClientTools
from agent_runtime.domain.message import Message, ToolCall
from agent_runtime.domain.plan import Plan, PlanStatus, Subtask
from agent_runtime.domain.run import Run, StopReason
from agent_runtime.domain.session import Session
from agent_runtime.domain.tool_call import IssuedToolCall
from agent_runtime.infrastructure.database import create_engine, normalise_db_url
from agent_runtime.infrastructure.migrator import upgrade
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory
from agent_runtime.infrastructure.writer_lock import SessionWriterLock
from tests.fakes import FakeUnitOfWorkFactory

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def store(request: pytest.FixtureRequest) -> str | None:
    """The database URL of a SQLite file or the real PostgreSQL, or None for the in-memory fakes the run engine's
    tests use: all three keep the same repository contract."""
    if request.param == "memory":
        return None
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))


@pytest.fixture
async def uows(store: str | None, tmp_path: Path) -> AsyncIterator[Any]:
    if store is None:
        yield FakeUnitOfWorkFactory()
        return
    engine = create_engine(normalise_db_url(store, tmp_path))
    await upgrade(engine)
    yield SqlAlchemyUnitOfWorkFactory(engine)
    await engine.dispose()


async def add_session(uows: SqlAlchemyUnitOfWorkFactory, session_id: str = "s1", **kw: object) -> None:
    async with uows() as uow:
        owner, now = kw.get("owner"), kw.get("now", NOW)
        await uow.sessions.add(Session.create(session_id, owner=owner, now=now, agent="orchestrator"))  # type: ignore[arg-type]
        await uow.commit()


async def test_a_session_round_trips_with_aware_timestamps(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    await add_session(uows, owner="alice")
    async with uows(write=False) as uow:
        session = await uow.sessions.get("s1")
    assert session is not None
    assert session.owner == "alice"
    assert session.created_at == NOW


async def test_an_owner_holds_any_subject_up_to_1_kib_of_utf8(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    subjects = {"ascii": "a" * 1024, "wide": "用" * 341, "accents": "ü" * 512}  # each at most 1024 bytes of UTF-8
    for session_id, owner in subjects.items():
        await add_session(uows, session_id, owner=owner)
    async with uows(write=False) as uow:
        for session_id, owner in subjects.items():
            page = await uow.sessions.page(owner=owner, active_only=False, limit=5, offset=0)
            assert [s.id for s in page.sessions] == [session_id]
            assert page.sessions[0].owner == owner


async def test_the_clients_declared_tools_round_trip(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    await add_session(uows)
    async with uows(write=False) as uow:
        session = await uow.sessions.get("s1")
    assert session is not None
    assert session.client_tools is None  # never declared
    assert session.declare_client_tools(ClientTools(frozenset({"read_file", "write_file"}), excludes_secrets=True))
    async with uows() as uow:
        await uow.sessions.save(session)
        await uow.commit()
    async with uows(write=False) as uow:
        again = await uow.sessions.get("s1")
    assert again is not None
    assert again.client_tools == ClientTools(frozenset({"read_file", "write_file"}), excludes_secrets=True)


async def test_leaving_without_commit_rolls_back(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    async with uows() as uow:
        await uow.sessions.add(Session.create("s1", owner=None, now=NOW, agent="orchestrator"))
    async with uows(write=False) as uow:
        assert await uow.sessions.get("s1") is None


async def test_paging_filters_by_owner_and_counts_the_real_total(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    for index in range(5):
        await add_session(uows, f"a{index}", owner="alice", now=NOW + timedelta(minutes=index))
    await add_session(uows, "b0", owner="bob")
    async with uows(write=False) as uow:
        page = await uow.sessions.page(owner="alice", active_only=False, limit=2, offset=1)
    assert page.total == 5
    assert [s.id for s in page.sessions] == ["a3", "a2"]


async def test_seq_allocation_is_monotonic_and_blocks_are_reserved(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    await add_session(uows)
    async with uows() as uow:
        assert await uow.sessions.allocate_seq("s1") == 1
        assert await uow.sessions.allocate_seq("s1", 10) == 11
        await uow.commit()
    async with uows() as uow:
        assert await uow.sessions.allocate_seq("s1") == 12


async def test_messages_keep_order_and_tool_calls(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    await add_session(uows)
    call = ToolCall(id="c1", name="read_file", arguments={"path": "a.py"})
    async with uows() as uow:
        await uow.messages.append("s1", 1, Message(role="user", content="hi", created_at=NOW))
        await uow.messages.append("s1", 2, Message(role="assistant", content=None, created_at=NOW, tool_calls=(call,)))
        await uow.messages.append("s1", 3, Message(role="tool", content="{}", created_at=NOW, tool_call_id="c1"))
        await uow.commit()
    async with uows(write=False) as uow:
        history = await uow.messages.history("s1")
    assert [m.role for m in history] == ["user", "assistant", "tool"]
    assert history[1].tool_calls == (call,)


async def test_the_event_log_replays_after_a_seq(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    await add_session(uows)
    async with uows() as uow:
        for seq in (1, 2, 5):
            await uow.events.append("s1", seq, "done", b'{"seq":%d}' % seq, NOW)
        await uow.commit()
    async with uows(write=False) as uow:
        events = await uow.events.after("s1", 1, 10)
    assert [(e.seq, e.data) for e in events] == [(2, b'{"seq":2}'), (5, b'{"seq":5}')]


async def test_agent_switches_are_appended(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    await add_session(uows)
    for target in ("coder", "debug"):
        async with uows() as uow:
            session = await uow.sessions.get("s1")
            assert session is not None
            context = await uow.agents.get(session)
            context.switch(target, reason="r", now=NOW, confidence=0.5)
            await uow.agents.save(context)
            await uow.commit()
    async with uows(write=False) as uow:
        session = await uow.sessions.get("s1")
        assert session is not None
        context = await uow.agents.get(session)
    assert context.current_agent == "debug"
    assert [s.to_agent for s in context.switches] == ["coder", "debug"]


async def test_approvals_plans_runs_and_tool_calls_round_trip(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    await add_session(uows)
    plan = Plan.draft(
        plan_id="p", session_id="s1", goal="g", subtasks=[Subtask(id="t", description="d", agent="coder")], now=NOW
    )
    approval = Approval.request(
        id="a", session_id="s1", kind=ApprovalKind.PLAN, call_id="plan_p", tool_name="create_plan",
        arguments={}, reason=None, created_at=NOW, plan_id="p",
    )  # fmt: skip
    run = Run.start(run_id="r", session_id="s1", agent="coder", now=NOW)
    call = IssuedToolCall.issue(
        call_id="c", session_id="s1", tool_name="read_file", arguments={"path": "x"}, requires_approval=False,
        created_at=NOW,
    )  # fmt: skip
    async with uows() as uow:
        for repo, item in ((uow.plans, plan), (uow.approvals, approval), (uow.runs, run), (uow.tool_calls, call)):
            await repo.add(item)  # type: ignore[attr-defined]
        await uow.commit()
    async with uows() as uow:
        assert [a.id for a in await uow.approvals.pending("s1")] == ["a"]
        loaded = await uow.approvals.get("a")
        assert loaded is not None
        loaded.decide(Decision.APPROVE, now=NOW)
        await uow.approvals.save(loaded)
        stored_plan = await uow.plans.get("p")
        assert stored_plan is not None
        stored_plan.move_to(PlanStatus.APPROVED, NOW)
        await uow.plans.save(stored_plan)
        assert [r.id for r in await uow.runs.running()] == ["r"]
        stored_run = await uow.runs.get("r")
        assert stored_run is not None
        stored_run.stop(StopReason.TOOL_CALL, NOW)
        await uow.runs.save(stored_run)
        assert [c.call_id for c in await uow.tool_calls.outstanding("s1")] == ["c"]
        await uow.commit()
    async with uows(write=False) as uow:
        assert await uow.approvals.pending("s1") == []
        assert (await uow.plans.get("p")).status is PlanStatus.APPROVED  # type: ignore[union-attr]
        assert await uow.runs.running() == []


async def test_a_loaded_entity_raises_nothing_it_raised_before_it_was_stored(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    await add_session(uows)  # stored with its SessionCreated never pulled, as the run below with its RunStarted
    async with uows() as uow:
        await uow.runs.add(Run.start(run_id="r", session_id="s1", agent="coder", now=NOW))
        await uow.commit()
    async with uows(write=False) as uow:
        session, run = await uow.sessions.get("s1"), await uow.runs.get("r")
    assert session is not None
    assert run is not None
    assert (session.pull_events(), run.pull_events()) == ([], [])


async def test_stale_approvals_name_live_sessions_with_an_approval_pending_too_long(
    uows: SqlAlchemyUnitOfWorkFactory,
) -> None:
    for sid in ("old", "fresh", "decided", "deleted"):
        await add_session(uows, sid)
    ages = {"old": 30, "fresh": 1, "decided": 30, "deleted": 30}
    async with uows() as uow:
        for sid, minutes in ages.items():
            approval = Approval.request(
                id=f"a-{sid}", session_id=sid, kind=ApprovalKind.TOOL, call_id="c", tool_name="write_file",
                arguments={}, reason=None, created_at=NOW - timedelta(minutes=minutes),
            )  # fmt: skip
            if sid == "decided":
                approval.decide(Decision.APPROVE, now=NOW)
            await uow.approvals.add(approval)
        session = await uow.sessions.get("deleted")
        assert session is not None
        session.delete(NOW)
        await uow.sessions.save(session)
        await uow.commit()
    async with uows(write=False) as uow:
        assert await uow.approvals.stale(NOW - timedelta(minutes=10), 10) == ["old"]


async def test_audit_and_usage_feed_the_totals(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    await add_session(uows)
    async with uows() as uow:
        await uow.records.add_audit([AuditEntry("SessionCreated", "session", "s1", {}, "c", None, NOW)])
        await uow.records.add_usage(UsageEntry("s1", "mock", 3, 4, 7, 12, NOW))
        await uow.commit()
    async with uows(write=False) as uow:
        totals = await uow.records.totals("s1")
        audit = await uow.records.audit(session_id="s1", event_type="SessionCreated", limit=5)
        per_session = await uow.records.per_session(10)
    assert totals["events_by_type"] == {"SessionCreated": 1}
    assert totals["usage"]["total_tokens"] == 7
    assert audit[0].correlation_id == "c"
    assert per_session[0]["total_tokens"] == 7


async def test_records_read_for_an_owner_cover_only_that_owners_sessions(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    await add_session(uows, "mine", owner="alice")
    await add_session(uows, "theirs", owner="bob")
    async with uows() as uow:
        await uow.records.add_audit(
            [AuditEntry("SessionCreated", "session", sid, {}, "c", None, NOW) for sid in ("mine", "theirs")]
        )
        for sid, tokens in (("mine", 7), ("theirs", 100)):
            await uow.records.add_usage(UsageEntry(sid, "mock", 1, tokens - 1, tokens, 5, NOW))
        await uow.commit()
    async with uows(write=False) as uow:
        totals = await uow.records.totals(owner="alice")
        audit = await uow.records.audit(session_id=None, event_type=None, limit=10, owner="alice")
        per_session = await uow.records.per_session(10, owner="alice")
        everyone = await uow.records.totals()
    assert (totals["total_events"], totals["usage"]["total_tokens"]) == (1, 7)
    assert [e.session_id for e in audit] == ["mine"]
    assert [row["session_id"] for row in per_session] == ["mine"]
    assert (everyone["total_events"], everyone["usage"]["total_tokens"]) == (2, 107)


async def test_only_runs_no_live_lease_covers_are_unleased(postgres_url: str, tmp_path: Path) -> None:
    """What a takeover pass reads: a turn another replica holds (a live lease) is left out, one whose lease expired
    (its replica died) is in; one query, whatever the number of live turns."""
    engine = create_engine(normalise_db_url(postgres_url, tmp_path))
    await upgrade(engine)
    uows = SqlAlchemyUnitOfWorkFactory(engine)
    try:
        for n in (1, 2, 3):
            await add_session(uows, f"s{n}")
        async with uows() as uow:
            for n in (1, 2, 3):
                await uow.runs.add(Run.start(run_id=f"r{n}", session_id=f"s{n}", agent="coder", now=NOW))
            await uow.commit()
        async with engine.begin() as connection:  # s3's replica died: its lease ran out
            await connection.execute(
                text("INSERT INTO session_leases VALUES ('s3', 'dead', now() - interval '1 second')")
            )
        holder = SessionWriterLock(engine, lease_seconds=30, replica="live")
        async with holder.hold("s1"), uows(write=False) as uow:
            assert [run.id for run in await uow.runs.unleased()] == ["r2", "r3"]
        async with uows(write=False) as uow:  # released: s1's run has no writer now either
            assert [run.id for run in await uow.runs.unleased()] == ["r1", "r2", "r3"]
    finally:
        await engine.dispose()
