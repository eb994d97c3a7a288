"""kill -9 of a writer mid-run: no acknowledged row is lost, the database is intact, and the next start takes the
interrupted run over and drives it to its end (the answer and a ``done`` in the session's log)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson
from sqlalchemy import text

from agent_runtime.app import create_app
from agent_runtime.infrastructure.database import create_engine, normalise_db_url
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory
from tests.conftest import make_settings
from tests.fake_llm import FakeLLM

WRITER = Path(__file__).with_name("crash_writer.py")
ROOT = Path(__file__).parents[2]


async def run_writer_until(url: str, acknowledged: int) -> int:
    """Start the writer, let it acknowledge at least ``acknowledged`` messages, SIGKILL it; return the last
    number it acknowledged."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(WRITER), url, stdout=asyncio.subprocess.PIPE, env=env
    )
    assert process.stdout is not None
    last = 0
    try:
        assert (await asyncio.wait_for(process.stdout.readline(), 30)).strip() == b"ready"
        while last < acknowledged:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            last = int(line)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    return last


async def test_a_killed_writer_loses_no_acknowledged_row(db_url: str, tmp_path: Path) -> None:
    url = normalise_db_url(db_url, tmp_path)
    last = await run_writer_until(url, 150)
    engine = create_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            async with engine.connect() as connection:
                assert (await connection.execute(text("PRAGMA integrity_check"))).scalar_one() == "ok"
        async with SqlAlchemyUnitOfWorkFactory(engine)(write=False) as uow:
            session = await uow.sessions.get("crash")
            history = await uow.messages.history("crash")
            events = await uow.events.after("crash", 0, 10_000)
        assert session is not None
        contents = [m.content for m in history]
        assert contents[:last] == [f"message {n}" for n in range(1, last + 1)]
        assert session.message_count == len(history)
        seqs = [e.seq for e in events]
        assert seqs == sorted(set(seqs))
    finally:
        await engine.dispose()

    # The same replica restarted (its name, so it takes back the lease the killed writer may have held).
    settings = make_settings(tmp_path, db_url, multi_agent_mode=True, replica_id="crash-writer")
    app = create_app(settings, llm=FakeLLM(["Hello", " world"]))
    async with app.router.lifespan_context(app):
        await app.state.runs.idle("crash")  # the start-up took the interrupted run over and drove it to its end
        async with app.state.uows(write=False) as uow:
            tail = await uow.events.after("crash", seqs[-1], 10)
            assert await uow.runs.running() == []
    assert [orjson.loads(e.data)["type"] for e in tail] == ["assistant_message", "done"]
    assert orjson.loads(tail[0].data)["content"] == "Hello world"
    assert orjson.loads(tail[-1].data)["stop_reason"] == "completed"
