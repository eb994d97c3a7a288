"""SQLite units of work on the loop thread: write units of one process queue instead of meeting SQLite's lock."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent_runtime.application.ports import AuditEntry, UsageEntry
from agent_runtime.domain.message import Message, ToolCall
from agent_runtime.domain.run import Run, StopReason
from agent_runtime.domain.session import Session
from agent_runtime.infrastructure import loop_sqlite
from agent_runtime.infrastructure.database import create_engine, normalise_db_url
from agent_runtime.infrastructure.loop_sqlite import loop_engine
from agent_runtime.infrastructure.migrator import upgrade
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
async def uows(sqlite_url: str, tmp_path: Path) -> AsyncIterator[SqlAlchemyUnitOfWorkFactory]:
    engine = create_engine(normalise_db_url(sqlite_url, tmp_path))
    await upgrade(engine)
    factory = SqlAlchemyUnitOfWorkFactory(engine)
    yield factory
    factory.close()
    await engine.dispose()


async def test_a_second_writer_waits_for_the_first_and_both_commit(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    first_in, first_may_leave = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with uows() as uow:
            first_in.set()
            await uow.sessions.add(Session.create("a", owner=None, now=NOW, agent="orchestrator"))
            await first_may_leave.wait()  # holds its write transaction across a real suspension
            await uow.commit()
        order.append("first")

    async def second() -> None:
        await first_in.wait()
        async with uows() as uow:
            order.append("second in")
            await uow.sessions.add(Session.create("b", owner=None, now=NOW, agent="orchestrator"))
            await uow.commit()

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_in.wait()
    await asyncio.sleep(0.05)
    assert order == []  # the second writer queues on the lock (it would otherwise block the loop in SQLite)
    first_may_leave.set()
    await asyncio.gather(*tasks)
    assert order == ["first", "second in"]
    async with uows(write=False) as uow:
        assert await uow.sessions.get("a") is not None
        assert await uow.sessions.get("b") is not None


async def test_readers_do_not_wait_for_a_writer(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    async with uows() as writer:
        await writer.sessions.add(Session.create("a", owner=None, now=NOW, agent="orchestrator"))
        async with uows(write=False) as reader:
            assert await reader.sessions.get("a") is None  # not committed yet
        await writer.commit()


async def test_a_writer_cancelled_while_queued_leaves_the_lock_to_the_others(
    uows: SqlAlchemyUnitOfWorkFactory,
) -> None:
    async with uows():
        queued = asyncio.create_task(uows().__aenter__())
        await asyncio.sleep(0.01)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
    async with asyncio.timeout(5):
        async with uows() as uow:
            await uow.sessions.add(Session.create("c", owner=None, now=NOW, agent="orchestrator"))
            await uow.commit()


def test_only_a_sqlite_file_gets_a_loop_engine(tmp_path: Path) -> None:
    file_engine = create_engine(normalise_db_url(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path))
    memory_engine = create_engine("sqlite+aiosqlite:///:memory:")
    postgres_engine = create_engine("postgresql+asyncpg://u@127.0.0.1/db")
    assert loop_engine(file_engine) is not None
    assert loop_engine(memory_engine) is None
    assert loop_engine(postgres_engine) is None


async def _workload(uows: SqlAlchemyUnitOfWorkFactory) -> list[object]:
    """Every prepared statement, with the awkward values (JSON, bytes, booleans, aware datetimes, None, non-ASCII);
    returns what the reads gave back."""
    later = NOW + timedelta(seconds=1, microseconds=123456)
    call = ToolCall("call_1", "write_file", {"path": "ä.py", "content": "x = 'ü'", "n": [1, None, True]})
    async with uows() as uow:
        session = Session.create("s", owner="alice", now=NOW, agent="orchestrator")
        await uow.sessions.add(session)
        seqs = [await uow.sessions.allocate_seq("s", 256), await uow.sessions.allocate_seq("s")]
        for position, message in enumerate(
            [
                Message(role="user", content="héllo 😀", created_at=NOW),
                Message(role="assistant", content=None, created_at=later, tool_calls=(call,), agent="coder"),
                Message(role="tool", content="ok", created_at=later, tool_call_id="call_1", name="write_file"),
            ]
        ):
            await uow.messages.append("s", position, message)
        session.title, session.message_count, session.is_active = "Tïtle", 3, False
        await uow.sessions.save(session)
        await uow.events.append("s", 1, "assistant_message", b'{"t":"\xc3\xa9"}', later)
        entry = AuditEntry("MessageAppended", "message", "s", {"k": ["v", 1.5, None]}, "req", None, later)
        await uow.records.add_audit([entry, entry])
        await uow.records.add_usage(UsageEntry("s", "m", 1, 2, 3, 40, later))
        run = Run.start(run_id="r1", session_id="s", agent="coder", now=NOW)
        await uow.runs.add(run)
        run.stop(StopReason.COMPLETED, later, None)
        await uow.runs.save(run)
        context = await uow.agents.get(session)
        context.switch("architect", reason="chosen by the user", now=later, confidence=0.5)
        await uow.agents.save(context)
        await uow.commit()
    async with uows(write=False) as uow:
        session_back = await uow.sessions.get("s")
        assert session_back is not None
        return [
            seqs,
            session_back,
            await uow.sessions.get("s", include_deleted=True),
            await uow.sessions.get("nobody"),
            await uow.messages.history("s"),
            await uow.messages.history("s", after=1),
            (await uow.agents.get(session_back)).switches,
            await uow.runs.get("r1"),
            await uow.events.after("s", 0, 10),
        ]


def _tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as raw:
        names = [r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: raw.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall() for name in names}


async def test_the_prepared_path_stores_and_reads_exactly_what_sqlalchemy_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same workload with the fast path and with every statement through SQLAlchemy: the same rows on disk,
    the same objects read back, and the fast path was really taken."""
    results, tables = [], []
    for name, fast in (("fast", True), ("slow", False)):
        if not fast:
            monkeypatch.setattr(loop_sqlite, "_PREPARED", {})
        loop_sqlite._PLANS.clear()
        path = tmp_path / f"{name}.sqlite3"
        engine = create_engine(normalise_db_url(f"sqlite:///{path}", tmp_path))
        await upgrade(engine)
        factory = SqlAlchemyUnitOfWorkFactory(engine)
        results.append(await _workload(factory))
        factory.close()
        await engine.dispose()
        tables.append(_tables(path))
        if fast:
            planned = [plan for plan in loop_sqlite._PLANS.values() if plan is not None]
            assert len(planned) >= 10, loop_sqlite._PLANS  # sessions, messages, events, audit, usage, runs, switches
    assert results[0] == results[1]
    assert tables[0] == tables[1]
