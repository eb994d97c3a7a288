"""The load client: N concurrent streams against one target, every frame timed; JSON out and a human summary.

Targets:
  fake | openai   OpenAI ``POST {url}/v1/chat/completions`` (stream) — the fake directly, LiteLLM, any OpenAI API
  proxy           the llm-proxy's ``/v1/chat/completions`` with ``X-Internal-Auth``
  runtime         the agent runtime's ``POST {url}/agent/message/stream`` with ``X-Internal-Auth``
  ws              the gateway's WebSocket ``{url}/api/v1/ws/new_<id>`` in dialect 1 (IDE) or 2 (``?protocol=2``)
  acp             the gateway's ACP WebSocket ``{url}/acp``: initialize, session/new, then session/prompt turns
  idle            open ``--streams`` idle gateway WebSockets, print ``{"open": K}``, hold until stdin closes

The fake's knobs travel inside the prompt as ``[fake tokens=… interval_ms=… ttft_ms=…]`` so they survive every hop.
Times: TTFT = first content frame − send; gap = between consecutive content frames; transit = arrival − the emit
time the fake wrote into the token (one-way latency through the chain).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import resource
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
import orjson
import websockets
from stats import fmt_ms, run, summarize
from streams import StreamRecord, acp_open, acp_turn, sse_openai, sse_runtime, ws_turn
from websockets.asyncio.client import connect

Driver = Callable[[int, list[StreamRecord]], Coroutine[Any, Any, None]]


def prompt(args: argparse.Namespace) -> str:
    if args.mock:
        # the llm-proxy's mock model echoes the prompt word by word
        return " ".join(f"w{i}" for i in range(args.tokens))
    return f"benchmark turn [fake tokens={args.tokens} interval_ms={args.interval_ms} ttft_ms={args.ttft_ms}]"


def _auth(args: argparse.Namespace) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if args.target in ("proxy", "runtime") and args.key:
        headers["x-internal-auth"] = args.key
    elif args.key:
        headers["authorization"] = f"Bearer {args.key}"
    return headers


def _driver(args: argparse.Namespace, session: aiohttp.ClientSession) -> Driver:
    headers = _auth(args)
    base = args.url.rstrip("/")
    if args.target in ("fake", "openai", "proxy"):
        body = {
            "model": args.model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": prompt(args)}],
        }
        url = base + "/v1/chat/completions"

        async def openai(stream: int, records: list[StreamRecord]) -> None:
            for request in range(args.requests):
                records.append(record := StreamRecord(stream, request))
                await _guard(sse_openai(session, url, headers, body, record), record, args.timeout)

        return openai
    if args.target == "runtime":

        async def runtime(stream: int, records: list[StreamRecord]) -> None:
            session_id = None
            for request in range(args.requests):
                records.append(record := StreamRecord(stream, request))
                message = {"type": "user_message", "content": prompt(args), "role": "user"}
                body = {"session_id": session_id, "message": message}
                task = sse_runtime(session, base + "/agent/message/stream", headers, body, record)
                session_id = await _guard(task, record, args.timeout) or session_id

        return runtime

    if args.target == "acp":

        async def acp(stream: int, records: list[StreamRecord]) -> None:
            url = base.replace("http", "ws", 1) + "/acp"
            try:
                async with connect(url, max_size=None, compression=None, ping_interval=None, open_timeout=30) as sock:
                    session_id = await asyncio.wait_for(acp_open(sock), 30)
                    for request in range(args.requests):
                        records.append(record := StreamRecord(stream, request))
                        turn = acp_turn(sock, session_id, request + 2, prompt(args), record)
                        await _guard(turn, record, args.timeout)
            except (OSError, websockets.WebSocketException, TimeoutError, KeyError) as exc:
                records.append(StreamRecord(stream, errors=[f"connect: {type(exc).__name__}: {exc}"[:160]]))

        return acp

    async def ws(stream: int, records: list[StreamRecord]) -> None:
        url = base.replace("http", "ws", 1) + f"/api/v1/ws/new_{uuid.uuid4().hex}"
        url += "?protocol=2" if args.dialect == 2 else ""
        try:
            async with connect(url, max_size=None, compression=None, ping_interval=None, open_timeout=30) as sock:
                for request in range(args.requests):
                    records.append(record := StreamRecord(stream, request))
                    await _guard(ws_turn(sock, args.dialect, prompt(args), record), record, args.timeout)
        except (OSError, websockets.WebSocketException, TimeoutError) as exc:
            records.append(StreamRecord(stream, errors=[f"connect: {type(exc).__name__}: {exc}"[:160]]))

    return ws


async def _guard(task: Awaitable[Any], record: StreamRecord, timeout: float) -> Any:
    """Run one request, turning every failure into an error on its record."""
    try:
        async with asyncio.timeout(timeout):
            return await task
    except TimeoutError:
        record.errors.append("timeout")
    except (aiohttp.ClientError, OSError, websockets.WebSocketException, orjson.JSONDecodeError) as exc:
        record.errors.append(f"{type(exc).__name__}: {exc}"[:160])
    return None


def raise_fd_limit() -> None:
    """Thousands of sockets need more than the usual 1024 descriptors."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def drive(args: argparse.Namespace) -> list[StreamRecord]:
    """Start ``args.streams`` concurrent streams (spread over ``--stagger-ms``) and wait for them all."""
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    records: list[StreamRecord] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        driver = _driver(args, session)
        tasks: list[asyncio.Task[None]] = []
        for stream in range(args.streams):
            tasks.append(asyncio.create_task(driver(stream, records)))
            if args.stagger_ms:
                await asyncio.sleep(args.stagger_ms / 1e3)
        await asyncio.gather(*tasks)
    return records


def analyse(records: list[StreamRecord], expected: int) -> dict[str, Any]:
    """TTFT, gaps and transit summaries (ms) plus delivery counters for a set of records."""
    ttft: list[float] = []
    gaps: list[float] = []
    transit: list[float] = []
    totals: list[float] = []
    missing = errors = 0
    for record in records:
        errors += bool(record.errors)
        if record.first_ns:
            ttft.append((record.first_ns - record.send_ns) / 1e6)
        arrivals = record.arrivals
        gaps.extend((b - a) / 1e6 for a, b in itertools.pairwise(arrivals))
        transit.extend((at - emit) / 1e6 for at, emit in zip(arrivals, record.emits, strict=True) if emit)
        if record.end_ns:
            totals.append((record.end_ns - record.send_ns) / 1e6)
        if expected:
            missing += max(0, expected - len(arrivals))
    return {
        "requests": len(records),
        "failed_requests": errors,
        "content_frames": sum(len(r.arrivals) for r in records),
        "missing_frames": missing,
        "ttft_ms": summarize(ttft),
        "gap_ms": summarize(gaps),
        "transit_ms": summarize(transit),
        "total_ms": summarize(totals),
        "error_samples": sorted({e for r in records for e in r.errors})[:5],
    }


def human(summary: dict[str, Any], label: str) -> str:
    lines = [
        f"{label}: {summary['requests']} requests, {summary['failed_requests']} failed, "
        f"{summary['content_frames']} content frames, {summary['missing_frames']} missing"
    ]
    for key in ("ttft_ms", "gap_ms", "transit_ms", "total_ms"):
        s = summary[key]
        lines.append(f"  {key:<11} p50 {fmt_ms(s['p50'])}  p99 {fmt_ms(s['p99'])}  max {fmt_ms(s['max'])}  n={s['n']}")
    lines.extend(f"  error: {e}" for e in summary["error_samples"])
    return "\n".join(lines)


async def hold_idle(args: argparse.Namespace) -> None:
    """Open idle IDE-style sockets, report how many opened, keep them until stdin closes."""
    base = args.url.rstrip("/").replace("http", "ws", 1)
    sockets = []
    failures = 0
    for start in range(0, args.streams, 200):
        batch = [
            connect(f"{base}/api/v1/ws/new_{uuid.uuid4().hex}", compression=None, ping_interval=None, open_timeout=30)
            for _ in range(start, min(args.streams, start + 200))
        ]
        for result in await asyncio.gather(*batch, return_exceptions=True):
            if isinstance(result, BaseException):
                failures += 1
            else:
                sockets.append(result)
    print(orjson.dumps({"open": len(sockets), "failed": failures}).decode(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    alive = sum(1 for s in sockets if s.state.name == "OPEN")
    print(orjson.dumps({"still_open": alive}).decode(), flush=True)
    for sock in sockets:
        with contextlib.suppress(Exception):
            await sock.close()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=("fake", "openai", "proxy", "runtime", "ws", "acp", "idle"), required=True)
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--key", default="", help="internal key (proxy/runtime) or Bearer key (openai)")
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--dialect", type=int, choices=(1, 2), default=2)
    parser.add_argument("--streams", type=int, default=1, help="concurrent streams (sockets for ws/idle)")
    parser.add_argument("--requests", type=int, default=1, help="sequential requests per stream")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    parser.add_argument("--stagger-ms", type=float, default=0.0, help="pause between starting streams")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument(
        "--warmup-requests", type=int, default=0, help="leave each stream's first K requests out of the summary"
    )
    parser.add_argument("--mock", action="store_true", help="target echoes the prompt (llm-proxy mock model)")
    parser.add_argument("--out", help="write every record and the summary as JSON here")
    parser.add_argument("--label", default="")
    parser.add_argument("--quiet", action="store_true", help="no human summary on stdout")
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> None:
    raise_fd_limit()
    if args.target == "idle":
        await hold_idle(args)
        return
    started = time.monotonic()
    records = await drive(args)
    expected = 1 if args.target == "ws" and args.dialect == 1 else args.tokens
    summary = analyse([r for r in records if r.request >= args.warmup_requests], expected)
    summary["all_content_frames"] = sum(len(r.arrivals) for r in records)
    summary["wall_s"] = time.monotonic() - started
    if args.out:
        with open(args.out, "wb") as handle:
            config = {k: v for k, v in vars(args).items() if k != "key"}
            records_json = [r.as_json() for r in records]
            handle.write(orjson.dumps({"config": config, "summary": summary, "records": records_json}))
    if not args.quiet:
        print(human(summary, args.label or f"{args.target} x{args.streams}"))


def main(argv: list[str] | None = None) -> None:
    run(_main(parse(argv)))


if __name__ == "__main__":
    main()
