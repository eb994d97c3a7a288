"""Two runtime replicas on one PostgreSQL: what following a turn through the other replica costs (issue 16).

The fake LLM, one llm-proxy and runtimes A and B on a fresh database, as processes. For each stream count: S sessions
are created on A; a follower per session opens ``GET /sessions/{id}/events`` on **B**; then S turns run on **A**
(``[fake tokens=N interval_ms=I]``) and their SSE answers are read there. Every token delta is timed on arrival at both
clients (one process, one clock): the added latency of the cross-replica follower is ``t(B) − t(A)`` per seq. Also
printed: CPU per token of A (producing and publishing) and of B (listening and serving its followers), from
``/proc``, and the peak of PostgreSQL connections to the database while the turns run (the pool bounds them, not
the turns). Run from the repository root:

    .venv/bin/python scripts/bench/replicas.py --streams 1,200 --tokens 64 --interval-ms 20

With ``--join-after N`` the followers on B open only once the requester on A has received N deltas of its turn (B
listens to no session before): printed is the catch-up time, from opening the follower to the arrival at B of the
last of those N deltas (B asks A for the turn so far, ADR 8), and whether every delta reached B; the added latency
is then that of the deltas A produced after the follower opened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
import httpx
from cluster import POSTGRES_URL, Cluster, create_database, drop_database
from stats import cpu_seconds, run, summarize


async def sse(
    http: httpx.AsyncClient, method: str, url: str, arrivals: dict[int, float], ready: asyncio.Event | None = None,
    **kwargs: Any,
) -> int:  # fmt: skip
    """Read one SSE response, noting the arrival time of every token delta by seq, until its ``done`` (its seq)."""
    async with http.stream(method, url, **kwargs) as response:
        response.raise_for_status()
        if ready is not None:
            ready.set()
        seq = None
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                seq = int(line[4:])
            elif line.startswith("data: ") and seq is not None:
                chunk = json.loads(line[6:])
                if chunk.get("type") == "assistant_message" and chunk.get("is_final") is False:
                    arrivals[seq] = time.monotonic()
                elif chunk.get("type") == "done":
                    return seq
    raise RuntimeError(f"{url}: the stream ended without its done")


async def peak_connections(database: str, stop: asyncio.Event, peak: list[int]) -> None:
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        while not stop.is_set():
            count = await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database)
            peak[0] = max(peak[0], int(count))
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def round_of(
    cluster: Cluster, database: str, streams: int, tokens: int, interval: float, join_after: int = 0
) -> dict[str, Any]:
    a, b = cluster.procs["runtime-a"], cluster.procs["runtime-b"]
    headers = {"X-Internal-Auth": cluster.key}
    limits = httpx.Limits(max_connections=4 * streams + 10, max_keepalive_connections=4 * streams + 10)
    async with httpx.AsyncClient(headers=headers, timeout=120, limits=limits) as http:
        sessions = [f"bench-{uuid.uuid4().hex[:10]}" for _ in range(streams)]
        cursors = []
        for session in sessions:  # created on A, nothing streamed yet
            body = {"session_id": session, "message": {"type": "user_message", "content": "[fake tokens=1] hi"}}
            cursors.append(await sse(http, "POST", f"{a.url}/agent/message/stream", {}, json=body))
        on_a: list[dict[int, float]] = [{} for _ in sessions]
        on_b: list[dict[int, float]] = [{} for _ in sessions]
        ready = [asyncio.Event() for _ in sessions]
        opened = [0.0] * streams

        async def follow(i: int) -> int:
            if join_after:
                while len(on_a[i]) < join_after:
                    await asyncio.sleep(0.005)
            opened[i] = time.monotonic()
            url = f"{b.url}/sessions/{sessions[i]}/events"
            return await sse(http, "GET", url, on_b[i], ready[i], params={"after": cursors[i]})

        if not join_after:
            followers = [asyncio.create_task(follow(i)) for i in range(streams)]
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
            await asyncio.sleep(0.5)  # B listens on every channel (ready answers after LISTEN; margin for the load)
        stop, peak = asyncio.Event(), [0]
        watcher = asyncio.create_task(peak_connections(database, stop, peak))
        cpu_a, cpu_b = cpu_seconds(a.pid), cpu_seconds(b.pid)
        started = time.monotonic()
        content = f"[fake tokens={tokens} interval_ms={interval}] go"
        turns = [
            sse(http, "POST", f"{a.url}/agent/message/stream", on_a[i],
                json={"session_id": s, "message": {"type": "user_message", "content": content}})
            for i, s in enumerate(sessions)
        ]  # fmt: skip
        if join_after:
            followers = [asyncio.create_task(follow(i)) for i in range(streams)]
        await asyncio.gather(*turns)
        await asyncio.wait_for(asyncio.gather(*followers, return_exceptions=True), 30)
        elapsed = time.monotonic() - started
        cpu_a, cpu_b = cpu_seconds(a.pid) - cpu_a, cpu_seconds(b.pid) - cpu_b
        stop.set()
        await watcher
    added = [
        (at_b[seq] - at_a[seq]) * 1000
        for at_a, at_b, since in zip(on_a, on_b, opened, strict=True)
        for seq in at_a
        if seq in at_b and at_a[seq] > since
    ]
    caught_up = [
        (max(at_b[seq] for seq in sorted(at_a)[:join_after]) - since) * 1000
        for at_a, at_b, since in zip(on_a, on_b, opened, strict=True)
        if join_after and all(seq in at_b for seq in sorted(at_a)[:join_after])
    ]
    produced = sum(len(x) for x in on_a)
    return {
        "streams": streams,
        "tokens": produced,
        "followed": sum(len(set(at_a) & set(at_b)) for at_a, at_b in zip(on_a, on_b, strict=True)),
        "catch_up_ms": summarize(caught_up),
        "seconds": round(elapsed, 2),
        "added_latency_ms": summarize(added),
        "cpu_us_per_token_a": cpu_a / max(produced, 1) * 1e6,
        "cpu_us_per_token_b": cpu_b / max(len(added), 1) * 1e6,
        "peak_connections": peak[0],
    }


async def main(args: argparse.Namespace) -> None:
    database, url = await create_database("bench_replicas")
    cluster = Cluster()
    try:
        cluster.start_fake()
        fake = cluster.procs["fake"]
        proxy = cluster._service(
            "llm-proxy", "llm_proxy", "LLM_PROXY__",
            {"LLM_PROXY__OPENAI_BASE_URL": f"{fake.url}/v1", "LLM_PROXY__OPENAI_API_KEY": "sk-fake-benchmark-key",
             "LLM_PROXY__DEFAULT_MODEL": cluster.proxy_model},
        )  # fmt: skip
        for name in ("runtime-a", "runtime-b"):
            cluster._service(
                name, "agent_runtime", "AGENT_RUNTIME__",
                {"AGENT_RUNTIME__LLM_PROXY_URL": proxy.url, "AGENT_RUNTIME__LLM_MODEL": cluster.proxy_model,
                 "AGENT_RUNTIME__DB_URL": url, "AGENT_RUNTIME__MULTI_AGENT_MODE": "false",
                 "AGENT_RUNTIME__DB_POOL_SIZE": str(args.pool_size),
                 "AGENT_RUNTIME__DB_MAX_OVERFLOW": str(args.max_overflow)},
            )  # fmt: skip
        for name in ("llm-proxy", "runtime-a", "runtime-b"):
            cluster.wait_healthy(name, "/health", 60)
        results = []
        for streams in (int(s) for s in args.streams.split(",")):
            result = await round_of(cluster, database, streams, args.tokens, args.interval_ms, args.join_after)
            results.append(result)
            lat, catch_up = result["added_latency_ms"], result["catch_up_ms"]
            if args.join_after:
                print(
                    f"streams={streams:4d} joined after {args.join_after} deltas: caught up in "
                    f"p50={catch_up['p50']:.1f} p99={catch_up['p99']:.1f} max={catch_up['max']:.1f} ms "
                    f"({catch_up['n']:.0f} of {streams} followers had every earlier delta)",
                    flush=True,
                )
            print(
                f"streams={streams:4d} tokens={result['tokens']:6d} followed={result['followed']:6d} "
                f"in {result['seconds']:6.2f} s  added latency p50={lat['p50']:.2f} p99={lat['p99']:.2f} ms  "
                f"CPU/token A={result['cpu_us_per_token_a']:.0f} µs B={result['cpu_us_per_token_b']:.0f} µs  "
                f"peak PostgreSQL connections={result['peak_connections']}",
                flush=True,
            )
        if args.json:
            print(json.dumps(results, indent=1))
    finally:
        cluster.stop()
        await drop_database(database)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1,200")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--max-overflow", type=int, default=40)
    parser.add_argument("--join-after", type=int, default=0, help="open the followers after N deltas of each turn")
    parser.add_argument("--json", action="store_true")
    run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
