"""Lease fence benchmark (issue 16): what the fence adds to a step of a session held under a lease on PostgreSQL.
One session, one process; steps that log one chunk, with and without the fence, interleaved step by step (so load on
a shared machine hits both alike); and the fence statement alone in an open transaction. Prints p50 / p95.

    cd agent-runtime && ../.venv/bin/python bench/fence_bench.py [--steps 3000]

A fresh database on ``CODELAB_TEST_POSTGRES_URL`` (dropped after)."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from store_bench import drop_postgres, fresh_postgres

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.commands import CreateSession
from agent_runtime.application.event_bus import EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.session_stream import SessionStream
from agent_runtime.infrastructure.database import create_engine, normalise_db_url
from agent_runtime.infrastructure.migrator import upgrade
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory
from agent_runtime.infrastructure.writer_lock import SessionWriterLock


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


async def measure(url: str, steps: int) -> dict[str, list[float]]:
    db = create_engine(url)
    await upgrade(db)
    uows = SqlAlchemyUnitOfWorkFactory(db)
    lock = SessionWriterLock(db, lease_seconds=60)
    stream = SessionStream(uows, SessionFanout())
    catalogue = build_catalogue(False)
    bus = CommandBus(uows, lock, EventBus(), HANDLERS, lambda: datetime.now(UTC), catalogue, stream)
    await bus.execute(CreateSession(session_id="s"))
    fence = lock.fence

    async def no_fence(uow: Any, session_id: str) -> None:
        return None

    times: dict[str, list[float]] = {"step without the fence": [], "step with the fence": [], "fence statement": []}
    async with bus.writer("s"):
        for _ in range(steps):
            for name, mode in (("step without the fence", no_fence), ("step with the fence", fence)):
                lock.fence = mode  # type: ignore[method-assign]
                started = time.perf_counter()
                async with bus.step("s") as step:
                    await step.emit({"type": "status", "message": "x"})
                times[name].append((time.perf_counter() - started) * 1000)
            async with uows() as uow:
                started = time.perf_counter()
                await fence(uow, "s")
                times["fence statement"].append((time.perf_counter() - started) * 1000)
                await uow.commit()
    await db.dispose()
    return times


async def main(steps: int) -> None:
    raw, name = await fresh_postgres()
    try:
        times = await measure(normalise_db_url(raw, Path(".")), steps)
    finally:
        await drop_postgres(name)
    print(f"# lease fence — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, PostgreSQL, {steps} steps each\n")
    print("| measure | p50 | p95 |\n|---|---|---|")
    for label, values in times.items():
        print(f"| {label} | {pct(values, 0.5):.2f} ms | {pct(values, 0.95):.2f} ms |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    asyncio.run(main(args.steps))
