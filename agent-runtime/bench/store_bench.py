"""Store benchmark: append latency at message 10 / 1,000 / 10,000 of one session, ``GET /sessions`` p95 with
10,000 sessions, and replay of 10,000 logged events. Prints a Markdown table per database.

    cd agent-runtime && ../.venv/bin/python bench/store_bench.py [--db sqlite|postgres|both] [--samples 200]

Appends go through the real command path (writer lock, unit of work with the audit rows in the same transaction,
commit, event bus); the session is filled to each level with bulk inserts in between, which is not what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import insert, update

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.app import create_app
from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.commands import AppendMessage, CreateSession
from agent_runtime.application.event_bus import EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.replay import replay_and_follow
from agent_runtime.application.session_stream import SessionStream
from agent_runtime.domain.message import Message
from agent_runtime.infrastructure import tables as t
from agent_runtime.infrastructure.database import create_engine, normalise_db_url
from agent_runtime.infrastructure.migrator import upgrade
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory
from agent_runtime.infrastructure.writer_lock import SessionWriterLock
from agent_runtime.settings import Settings
from service_kit.logs import configure_logging

POSTGRES = os.environ.get("CODELAB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "bench-internal-key-0123456789"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def fill_messages(engine, session_id: str, start: int, stop: int) -> None:  # type: ignore[no-untyped-def]
    rows = [
        {"session_id": session_id, "position": p, "role": "user", "content": f"filler {p} " * 20, "created_at": NOW}
        for p in range(start, stop + 1)
    ]
    async with engine.begin() as connection:
        for offset in range(0, len(rows), 2000):
            await connection.execute(insert(t.messages), rows[offset : offset + 2000])
        await connection.execute(update(t.sessions).where(t.sessions.c.id == session_id).values(message_count=stop))


async def bench_appends(url: str, samples: int) -> list[tuple[int, float, float]]:
    engine = create_engine(url)
    uows = SqlAlchemyUnitOfWorkFactory(engine)
    events = EventBus()  # the command bus writes the audit rows in each command's own transaction
    bus = CommandBus(
        uows,
        SessionWriterLock(engine),
        events,
        HANDLERS,
        lambda: datetime.now(UTC),
        build_catalogue(True),
        SessionStream(uows, SessionFanout()),
    )
    await bus.execute(CreateSession(session_id="bench"))
    results = []
    count = 0
    for level in (10, 1_000, 10_000):
        if count < level - 1:
            await fill_messages(engine, "bench", count + 1, level - 1)
            count = level - 1
        timings = []
        for _ in range(samples):
            started = time.perf_counter()
            await bus.execute(
                AppendMessage(
                    session_id="bench",
                    message=Message(role="user", created_at=datetime.now(UTC), content="a new message " * 20),
                )
            )
            timings.append((time.perf_counter() - started) * 1000)
            count += 1
        results.append((level, statistics.median(timings), pct(timings, 0.95)))
    await engine.dispose()
    return results


async def bench_list(url: str, data_dir: Path, requests: int) -> tuple[float, float]:
    engine = create_engine(url)
    rows = [
        {
            "id": f"s{n:05d}", "owner": "owner", "title": f"session {n}", "current_agent": "orchestrator",
            "is_active": True, "created_at": NOW, "updated_at": NOW, "last_activity": NOW + timedelta(seconds=n),
            "message_count": 0, "last_seq": 0,
        }
        for n in range(10_000)
    ]  # fmt: skip
    async with engine.begin() as connection:
        for offset in range(0, len(rows), 2000):
            await connection.execute(insert(t.sessions), rows[offset : offset + 2000])
    await engine.dispose()
    settings = Settings(internal_api_key=KEY, data_dir=data_dir, db_url=url, session_ttl_hours=0)  # type: ignore[arg-type]
    app = create_app(settings)
    timings = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://r", headers={"X-Internal-Auth": KEY}) as c:
            for index in range(requests):
                started = time.perf_counter()
                response = await c.get(
                    "/sessions", params={"limit": 50, "offset": (index * 50) % 9_000}, headers={"X-Subject": "owner"}
                )
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
                assert response.json()["total"] == 10_000
    return statistics.median(timings), pct(timings, 0.95)


async def bench_replay(url: str) -> tuple[float, float]:
    engine = create_engine(url)
    uows = SqlAlchemyUnitOfWorkFactory(engine)
    async with uows() as uow:
        from agent_runtime.domain.session import Session

        await uow.sessions.add(Session.create("replay", owner=None, now=NOW))
        await uow.commit()
    chunk = b'{"type":"assistant_message","content":"' + b"x" * 200 + b'","is_final":true,"session_id":"replay"}'
    rows = [{"session_id": "replay", "seq": n, "type": "assistant_message", "data": chunk, "created_at": NOW}
            for n in range(1, 10_001)]  # fmt: skip
    async with engine.begin() as connection:
        for offset in range(0, len(rows), 2000):
            await connection.execute(insert(t.session_events), rows[offset : offset + 2000])
    started = time.perf_counter()
    stream = replay_and_follow(uows, SessionFanout(), "replay", 0)
    for _ in range(10_000):
        await anext(stream)
    elapsed = time.perf_counter() - started
    await stream.aclose()
    await engine.dispose()
    return elapsed * 1000, 10_000 / elapsed


async def fresh_postgres() -> tuple[str, str]:
    name = f"ar_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return POSTGRES.rsplit("/", 1)[0] + f"/{name}", name


async def drop_postgres(name: str) -> None:
    admin = await asyncpg.connect(POSTGRES)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def run(kind: str, samples: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        databases = []
        for part in ("appends", "list", "replay"):
            if kind == "sqlite":
                raw, name = f"sqlite:///{data_dir / part}.sqlite3", None
            else:
                raw, name = await fresh_postgres()
            url = normalise_db_url(raw, data_dir)
            engine = create_engine(url)
            await upgrade(engine)
            await engine.dispose()
            databases.append((url, name))
        try:
            appends = await bench_appends(databases[0][0], samples)
            listing = await bench_list(databases[1][0], data_dir, samples)
            replay = await bench_replay(databases[2][0])
        finally:
            for _, name in databases:
                if name:
                    await drop_postgres(name)
    print(f"\n### {kind}\n")
    print("| measurement | median | p95 |")
    print("|---|---|---|")
    for level, median, p95 in appends:
        label = f"append user message at message {level:,} (command path, {samples} samples)"
        print(f"| {label} | {median:.2f} ms | {p95:.2f} ms |")
    label = f"GET /sessions limit=50 with 10,000 sessions (ASGI, {samples} requests)"
    print(f"| {label} | {listing[0]:.2f} ms | {listing[1]:.2f} ms |")
    print(f"| replay 10,000 logged events (replay_and_follow) | {replay[0]:.0f} ms total | {replay[1]:,.0f} events/s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    configure_logging("store-bench", "WARNING")
    print(f"store_bench: {datetime.now(UTC).isoformat(timespec='seconds')}, python {sys.version.split()[0]}")
    for kind in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        asyncio.run(run(kind, args.samples))


if __name__ == "__main__":
    main()
