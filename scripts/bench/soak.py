"""The seeds' load target: 100 concurrent WebSocket sessions, 10 requests/s for N minutes; p95 and memory over time.

Starts the fake LLM and the three services (as ``chain.py`` does), opens ``--sessions`` WebSockets to the gateway
and sends ``user_message`` turns at ``--rate`` per second in total, round-robin over the sessions (a session that is
still answering is skipped and counted). Every ``--sample-s`` seconds it records the RSS of gateway, agent-runtime
and llm-proxy. Prints p50/p95/p99 of the turn time (send → ``done``) and of TTFT, the RSS series, and the RSS slope
over the second half (MiB per minute). Pass: p95 < 500 ms, no failed turns, and each service's RSS grows < 10%
over the second half.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import time
import uuid
from pathlib import Path
from typing import Any

import websockets
from cluster import Cluster, machine
from load_client import analyse, raise_fd_limit
from stats import rss_bytes, run
from streams import StreamRecord, ws_turn
from websockets.asyncio.client import ClientConnection, connect

SERVICES = ("gateway", "agent-runtime", "llm-proxy")


async def _session(url: str, dialect: int) -> ClientConnection:
    suffix = "?protocol=2" if dialect == 2 else ""
    return await connect(f"{url}/api/v1/ws/new_{uuid.uuid4().hex}{suffix}", compression=None, ping_interval=None)


async def _turn(ws: ClientConnection, args: argparse.Namespace, content: str, record: StreamRecord) -> None:
    try:
        async with asyncio.timeout(30):
            await ws_turn(ws, args.dialect, content, record)
    except (TimeoutError, OSError, websockets.WebSocketException) as exc:
        record.errors.append(type(exc).__name__)


def _release(busy: set[int], index: int, _: object) -> None:
    busy.discard(index)


async def _sample(cluster: Cluster, args: argparse.Namespace, samples: list[dict[str, float]], stop: float) -> None:
    start = time.monotonic()
    while time.monotonic() < stop:
        row = {"t": time.monotonic() - start}
        row.update({name: rss_bytes(cluster.procs[name].pid) / 2**20 for name in SERVICES})
        samples.append(row)
        await asyncio.sleep(args.sample_s)


async def soak(cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    url = cluster.procs["gateway"].url.replace("http", "ws", 1)
    sockets = await asyncio.gather(*(_session(url, args.dialect) for _ in range(args.sessions)))
    content = f"soak turn [fake tokens={args.tokens} interval_ms={args.interval_ms} ttft_ms={args.ttft_ms}]"
    if args.mock:
        content = " ".join(f"w{i}" for i in range(args.tokens))
    busy: set[int] = set()
    records: list[StreamRecord] = []
    skipped = 0
    samples: list[dict[str, float]] = []
    stop = time.monotonic() + args.minutes * 60
    sampler = asyncio.create_task(_sample(cluster, args, samples, stop))
    tasks = []
    loop = asyncio.get_running_loop()
    tick, number = loop.time(), 0
    while time.monotonic() < stop:
        index = number % args.sessions
        number += 1
        if index in busy:
            skipped += 1
        else:
            busy.add(index)
            records.append(record := StreamRecord(index, number))
            task = asyncio.create_task(_turn(sockets[index], args, content, record))
            task.add_done_callback(functools.partial(_release, busy, index))
            tasks.append(task)
        tick += 1 / args.rate
        await asyncio.sleep(max(0.0, tick - loop.time()))
    await asyncio.gather(*tasks)
    await sampler
    for ws in sockets:
        await ws.close()
    summary = analyse(records, 1 if args.dialect == 1 else args.tokens)
    return {"summary": summary, "skipped": skipped, "rss_mib": samples}


def _growth(samples: list[dict[str, float]], name: str) -> tuple[float, float]:
    """(MiB per minute over the second half by least squares, % growth from its first to last sample)."""
    half = samples[len(samples) // 2 :]
    if len(half) < 2:
        return float("nan"), float("nan")
    xs, ys = [s["t"] / 60 for s in half], [s[name] for s in half]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / max(1e-9, sum((x - mx) ** 2 for x in xs))
    return slope, (ys[-1] - ys[0]) / ys[0] * 100


def report(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    summary = result["summary"]
    total, ttft = summary["total_ms"], summary["ttft_ms"]
    lines = [
        f"== soak: {args.sessions} WebSocket sessions (v{args.dialect}), {args.rate:g} requests/s, "
        f"{args.minutes:g} min; {args.tokens} tokens {args.interval_ms:g} ms apart, fake TTFT {args.ttft_ms:g} ms",
        f"turns {summary['requests']}, failed {summary['failed_requests']}, skipped (session busy) {result['skipped']}",
        f"turn time ms: p50 {total['p50']:.1f}  p95 {total['p95']:.1f}  p99 {total['p99']:.1f}  max {total['max']:.1f}",
        f"TTFT ms:      p50 {ttft['p50']:.1f}  p95 {ttft['p95']:.1f}  p99 {ttft['p99']:.1f}  max {ttft['max']:.1f}",
        "RSS MiB over time (t s: gateway / agent-runtime / llm-proxy):",
    ]
    step = max(1, len(result["rss_mib"]) // 12)
    for row in result["rss_mib"][::step]:
        rss = " / ".join(f"{row[name]:7.1f}" for name in SERVICES)
        lines.append(f"  {row['t']:6.0f}: {rss}")
    flat = True
    for name in SERVICES:
        slope, pct = _growth(result["rss_mib"], name)
        flat = flat and not pct >= 10
        lines.append(f"  {name}: second half {slope:+.2f} MiB/min, {pct:+.1f}%")
    ok = total["p95"] < 500 and summary["failed_requests"] == 0 and flat
    lines.append(f"target p95 < 500 ms, no failures, flat memory → {'met' if ok else 'MISSED'}")
    return lines


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second in total")
    parser.add_argument("--dialect", type=int, choices=(1, 2), default=2)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--proxy-model", default="openai/fake-model")
    parser.add_argument("--mock", action="store_true", help="the proxy's mock model instead of the fake")
    parser.add_argument("--src-root", default="", help="run the services from this source snapshot")
    parser.add_argument("--out", default="")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    print(f"soak {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; {machine()}", flush=True)
    cluster = Cluster(proxy_model=args.proxy_model, src_root=Path(args.src_root) if args.src_root else None)
    try:
        cluster.start_fake()
        cluster.start_chain(mock=args.mock)
        result = run(soak(cluster, args))
    finally:
        cluster.stop()
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    print("\n".join(report(result, args)))


if __name__ == "__main__":
    main()
