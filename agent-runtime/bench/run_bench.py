"""Run-engine benchmark: what the agent loop adds per token and per turn, on a real SQLite file, with an instant
in-process model (so only the runtime's own work is measured). Prints a Markdown table.

    cd agent-runtime && ../.venv/bin/python bench/run_bench.py [--tokens 5000] [--turns 200] [--db sqlite|postgres]

``--db postgres``: a fresh database on ``CODELAB_TEST_POSTGRES_URL`` (dropped after), with the session leases and
the per-step lease fence of several replicas.

- CPU per relayed token: model chunk → delta chunk (seq, JSON) → live fan-out → the request's follower queue.
- Turn latency (submit → this frame's ``done`` seen by the follower) for a one-token reply, p50/p95, and its CPU
  (``process_time``, every thread): the fixed cost of a turn (steps, commits, the final message, ``done``).
- A tool round trip: ``tool_call`` out → ``tool_result`` in → next ``tool_call`` out, p50/p95.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from store_bench import drop_postgres, fresh_postgres

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.agents.loop_guard import LoopGuard
from agent_runtime.agents.routing import Router
from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.event_bus import EventBus
from agent_runtime.application.fanout import Follower, SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.session_stream import SessionStream
from agent_runtime.domain.events import SessionEventAppended
from agent_runtime.guardrails.approval_policy import ApprovalPolicy
from agent_runtime.infrastructure.database import create_engine, normalise_db_url
from agent_runtime.infrastructure.migrator import upgrade
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory
from agent_runtime.infrastructure.writer_lock import SessionWriterLock
from agent_runtime.runs.engine import RunEngine, Ticket
from agent_runtime.runs.frames import parse_frame
from agent_runtime.runs.model import Classifier, ModelCaller
from agent_runtime.runs.services import Services


class InstantModel:
    """Answers at once: ``tokens`` text deltas, or one read_file call when the last message is a tool result."""

    def __init__(self) -> None:
        self.tokens = 1
        self.tool_rounds = False

    async def stream_chat(self, *, messages: list[dict[str, Any]], **_: Any) -> AsyncIterator[dict[str, Any]]:
        if self.tool_rounds:
            call = {
                "index": 0,
                "id": f"c{len(messages)}",
                "function": {"name": "read_file", "arguments": '{"path":"a"}'},
            }
            yield {"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}
            return
        for _ in range(self.tokens):
            yield {"choices": [{"index": 0, "delta": {"content": " tok"}}]}
        yield {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": self.tokens}}


class Windows:
    async def window(self, model: str) -> int | None:
        return 1_000_000


async def build(url: str) -> tuple[RunEngine, SessionFanout, InstantModel, Any]:
    db = create_engine(url)
    await upgrade(db)
    uows = SqlAlchemyUnitOfWorkFactory(db)
    bus, fanout = EventBus(), SessionFanout()
    bus.subscribe(fanout.on_event, event_type=SessionEventAppended)
    model = InstantModel()
    caller = ModelCaller(model)
    catalogue = build_catalogue(False)
    stream, lock = SessionStream(uows, fanout), SessionWriterLock(db)
    services = Services(
        catalogue=catalogue,
        policy=ApprovalPolicy(),
        router=Router(Classifier(caller, "mock"), catalogue),
        caller=caller,
        commands=CommandBus(uows, lock, bus, HANDLERS, lambda: datetime.now(UTC), catalogue, stream),
        stream=stream,
        windows=Windows(),
        guard=LoopGuard(max_tool_rounds=10**6, max_identical_calls=10**6),  # the bench repeats one call on purpose
    )
    return RunEngine(services, uows, lock), fanout, model, db


async def send(engine: RunEngine, fanout: SessionFanout, session: str, message: dict[str, Any]) -> list[bytes]:
    follower = fanout.follow(session)
    try:
        await engine.open_session(session)
        ticket = await engine.submit(session, parse_frame(message))
        return await _until_done(follower, ticket)
    finally:
        fanout.leave(session, follower)


async def _until_done(follower: Follower, ticket: Ticket) -> list[bytes]:
    """The request's chunks from its follower until its ``done`` (what ``api.stream.ticket_frames`` reads, without
    the SSE encoding)."""
    chunks = []
    while True:
        seq, data = await follower.queue.get()
        if seq < 0:
            return chunks
        if ticket.wants(seq):
            chunks.append(data)
            if ticket.done.done() and seq >= ticket.done.result():
                return chunks


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(tokens: int, turns: int, kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "postgres":
            raw, database = await fresh_postgres()
        else:
            raw, database = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", None
        try:
            await bench(normalise_db_url(raw, Path(tmp)), tokens, turns, kind)
        finally:
            if database:
                await drop_postgres(database)


async def bench(url: str, tokens: int, turns: int, kind: str) -> None:
    engine, fanout, model, db = await build(url)
    await send(engine, fanout, "warm", {"type": "user_message", "content": "warm up"})
    model.tokens = tokens
    cpu, wall = time.process_time(), time.perf_counter()
    chunks = await send(engine, fanout, "long", {"type": "user_message", "content": "long answer"})
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert len(chunks) == tokens + 2
    model.tokens = 1
    latencies = []
    turn_cpu = time.process_time()
    for index in range(turns):
        started = time.perf_counter()
        await send(engine, fanout, "short", {"type": "user_message", "content": f"m{index}"})
        latencies.append((time.perf_counter() - started) * 1000)
    turn_cpu = (time.process_time() - turn_cpu) / turns
    model.tool_rounds = True
    first = await send(engine, fanout, "tools", {"type": "user_message", "content": "use tools"})
    call_id = _call_id(first)
    rounds = []
    for _ in range(turns):
        started = time.perf_counter()
        out = await send(engine, fanout, "tools", {"type": "tool_result", "call_id": call_id, "result": {"ok": 1}})
        rounds.append((time.perf_counter() - started) * 1000)
        call_id = _call_id(out)
    await engine.aclose()
    await db.dispose()
    database = "PostgreSQL" if kind == "postgres" else "SQLite"
    started = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(f"# run engine benchmark — {started}, Python {sys.version.split()[0]}, {database}\n")
    print("| measure | value |\n|---|---|")
    print(f"| CPU per relayed token ({tokens} tokens, one turn) | {cpu / tokens * 1e6:.1f} µs |")
    print(f"| tokens per second relayed (wall) | {tokens / wall:,.0f} |")
    print(
        f"| one-token turn, submit → done, p50 / p95 ({turns}) | {statistics.median(latencies):.2f} / "
        f"{pct(latencies, 0.95):.2f} ms |"
    )
    print(f"| CPU per one-token turn (all threads, {turns}) | {turn_cpu * 1000:.2f} ms |")
    print(
        f"| tool round trip (result in → next tool_call out), p50 / p95 ({turns}) | {statistics.median(rounds):.2f} / "
        f"{pct(rounds, 0.95):.2f} ms |"
    )


def _call_id(chunks: list[bytes]) -> str:
    import orjson

    for data in chunks:
        chunk = orjson.loads(data)
        if chunk["type"] == "tool_call":
            return str(chunk["call_id"])
    raise AssertionError(f"no tool_call in {chunks!r}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    asyncio.run(main(args.tokens, args.turns, args.db))
