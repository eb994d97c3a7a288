"""What the gateway hop costs: CPU per relayed token and the latency it adds, against a fake runtime.

    .venv/bin/python gateway/bench/relay_bench.py [--sockets 20] [--turns 5] [--tokens 200] [--rounds 5]
        [--interval-ms 0] [--idle 500] [--idle-fresh 0] [--phases cpu,latency,idle] [--src DIR]

Three processes: a fake runtime (aiohttp, speaking the chunk-stream contract, each token carrying its emit time),
the gateway (``python -m gateway``), and this client. It prints

- CPU of the gateway process (utime+stime from /proc) per token delivered, for v2 (every delta is a frame), ACP
  (every delta a ``session/update``) and v1 (deltas are read and dropped, one final frame per reply), with all
  sockets streaming at once;
- per-token latency, runtime emit → client receive, through the gateway (WebSocket v2, ACP) and directly from the
  fake's SSE, interleaved over ``--rounds`` rounds of paced tokens; the difference is what the gateway adds;
- the gateway's RSS growth per idle socket (``--idle`` sockets held open after the load; ``--idle-fresh`` sockets
  on the fresh gateway before anything else, as the chain benchmark's idle phase sees it).

``--interval-ms`` paces the CPU phase's tokens (the chain benchmark sends 64 tokens 20 ms apart: every token is then
its own read, wake-up and frame, the costly case); 0 sends them back to back (reads carry many events).
``--src DIR`` runs the gateway from a copy of its sources (``DIR/gateway``), e.g. to compare before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from websockets.asyncio.client import connect

KEY = "bench-" + secrets.token_hex(16)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the fake runtime (runs in its own process) -----------------------------------------------------------------


async def fake_stream(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    content = str(body["message"].get("content", ""))
    count, _, interval = content.partition("/")
    tokens, pause = int(count or 10), float(interval or 0)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    session = body.get("session_id") or secrets.token_hex(8)
    seqs: dict[str, int] = request.app["seqs"]  # per session, never reused: the contract

    async def emit(chunk: dict[str, object]) -> None:
        seqs[session] = seq = seqs.get(session, 0) + 1
        await response.write(b"id: %d\ndata: %s\n\n" % (seq, orjson.dumps({**chunk, "session_id": session})))

    if body.get("session_id") is None:
        await emit({"type": "session_info"})
    for _ in range(tokens):
        await emit({"type": "assistant_message", "token": f"{time.time_ns()} ", "is_final": False})
        if pause:
            await asyncio.sleep(pause)
    await emit({"type": "assistant_message", "content": "x" * tokens, "is_final": True})
    await emit({"type": "done", "stop_reason": "completed", "usage": {"total_tokens": tokens}})
    return response


async def fake_session(request: web.Request) -> web.Response:
    return web.json_response({"id": secrets.token_hex(8), "current_agent": "universal"})


async def fake_agents(request: web.Request) -> web.Response:
    return web.json_response({"agents": [{"id": "universal", "name": "Universal"}], "count": 1})


def run_fake_runtime(port: int) -> None:
    app = web.Application()
    app["seqs"] = {}
    app.router.add_post("/agent/message/stream", fake_stream)
    app.router.add_post("/sessions", fake_session)  # what ACP's session/new asks
    app.router.add_get("/agents", fake_agents)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- the client -------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def ws_turns(url: str, turns: int, tokens: int, latencies: list[float] | None, pause: float) -> int:
    """One socket, ``turns`` replies; returns the tokens it received (v2) or the finals (v1) times ``tokens``."""
    received = 0
    async with connect(url, max_size=None, compression=None) as ws:
        for _ in range(turns):
            await ws.send(orjson.dumps({"type": "user_message", "content": f"{tokens}/{pause}"}).decode())
            while True:
                frame = orjson.loads(await ws.recv())
                if frame.get("is_final") is False:
                    if latencies is not None:
                        latencies.append((time.time_ns() - int(frame["token"])) / 1e6)
                    received += 1
                elif frame.get("is_final") is True and "seq" not in frame:
                    received += tokens  # v1: the reply arrives as one frame
                    break
                elif frame.get("type") == "done":
                    break
    return received


async def acp_turns(url: str, turns: int, tokens: int, latencies: list[float] | None, pause: float) -> int:
    """One ACP connection (initialize, session/new), ``turns`` prompts; returns the tokens it received."""
    received = 0
    async with connect(url, max_size=None, compression=None) as ws:

        async def call(request_id: int, method: str, params: dict[str, object]) -> Any:
            await ws.send(
                orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).decode()
            )
            while True:
                message = orjson.loads(await ws.recv())
                if message.get("id") == request_id:
                    return message
                update = message["params"]["update"]
                if update["sessionUpdate"] == "agent_message_chunk":
                    nonlocal received
                    received += 1
                    if latencies is not None:
                        latencies.append((time.time_ns() - int(update["content"]["text"])) / 1e6)

        await call(0, "initialize", {"protocolVersion": 1})
        session = (await call(1, "session/new", {"cwd": "/bench", "mcpServers": []}))["result"]["sessionId"]
        for turn in range(turns):
            await call(
                turn + 2,
                "session/prompt",
                {"sessionId": session, "prompt": [{"type": "text", "text": f"{tokens}/{pause}"}]},
            )
    return received


async def sse_turn(http: aiohttp.ClientSession, url: str, tokens: int, pause: float, latencies: list[float]) -> None:
    body = orjson.dumps({"session_id": None, "message": {"type": "user_message", "content": f"{tokens}/{pause}"}})
    async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
        buffer = b""
        async for raw in response.content.iter_any():
            buffer += raw
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                chunk = orjson.loads(event.split(b"data: ", 1)[1])
                if chunk.get("is_final") is False:
                    latencies.append((time.time_ns() - int(chunk["token"])) / 1e6)


async def cpu_per_token(gateway_pid: int, ws_base: str, args: argparse.Namespace, protocol: str) -> tuple[float, int]:
    """``protocol``: ``?protocol=2``, ``""`` (v1) or ``acp``."""
    pause = args.interval_ms / 1000
    started = cpu_seconds(gateway_pid)
    counts = await asyncio.gather(
        *(
            acp_turns(f"{ws_base}/acp", args.turns, args.tokens, None, pause)
            if protocol == "acp"
            else ws_turns(f"{ws_base}/ws/new_{n}{protocol}", args.turns, args.tokens, None, pause)
            for n in range(args.sockets)
        )
    )
    spent = cpu_seconds(gateway_pid) - started
    return spent / sum(counts) * 1e6, sum(counts)


async def latency_rounds(
    ws_base: str, runtime_url: str, args: argparse.Namespace
) -> tuple[list[float], list[float], list[float]]:
    """Interleaved rounds: v2 through the gateway, ACP through the gateway, the fake's SSE directly."""
    via_gateway: list[float] = []
    via_acp: list[float] = []
    direct: list[float] = []
    medians: dict[str, list[float]] = {"v2": [], "acp": [], "sse": []}
    async with aiohttp.ClientSession() as http:
        for _ in range(args.rounds):
            gw: list[float] = []
            await ws_turns(f"{ws_base}/ws/new_lat?protocol=2", 1, 100, gw, 0.005)
            acp: list[float] = []
            await acp_turns(f"{ws_base}/acp", 1, 100, acp, 0.005)
            sse: list[float] = []
            await sse_turn(http, f"{runtime_url}/agent/message/stream", 100, 0.005, sse)
            for name, values in (("v2", gw), ("acp", acp), ("sse", sse)):
                medians[name].append(statistics.median(values))
            via_gateway += gw
            via_acp += acp
            direct += sse
    for name, values in medians.items():
        print(f"  per-round medians {name:<4}(ms): {[round(m, 3) for m in values]}")
    return via_gateway, via_acp, direct


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def idle_memory(gateway_pid: int, ws_base: str, count: int, label: str) -> None:
    """Open ``count`` idle v1 sockets (what an IDE left open looks like) and report RSS growth per socket."""
    before = rss_kib(gateway_pid)
    sockets = []
    for start in range(0, count, 100):  # like load_client.py's idle mode: batches opened concurrently
        batch = (
            connect(f"{ws_base}/api/v1/ws/new_idle{n}", compression=None, ping_interval=None)
            for n in range(start, min(count, start + 100))
        )
        sockets += await asyncio.gather(*batch)
    await asyncio.sleep(1.0)
    after = rss_kib(gateway_pid)
    await asyncio.gather(*(ws.close() for ws in sockets))
    print(
        f"idle sockets ({label}): {count} opened, gateway RSS +{(after - before) / 1024:.1f} MiB, "
        f"{(after - before) / count:.1f} KiB per socket"
    )


def p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99) - 1]


async def measure(args: argparse.Namespace, gateway_pid: int, gateway_port: int, runtime_port: int) -> None:
    ws_base = f"ws://127.0.0.1:{gateway_port}"
    phases = set(args.phases.split(","))
    if args.idle_fresh:
        await idle_memory(gateway_pid, ws_base, args.idle_fresh, "fresh gateway")
    await ws_turns(f"{ws_base}/ws/new_warm?protocol=2", 2, 50, None, 0)  # warm up imports and connections
    if "cpu" in phases:
        for name, protocol in (
            ("v2 (every delta a frame)", "?protocol=2"),
            ("ACP (every delta a session/update)", "acp"),
            ("v1 (one frame per reply)", ""),
        ):
            per_token, total = await cpu_per_token(gateway_pid, ws_base, args, protocol)
            print(
                f"gateway CPU per token, {name}: {per_token:.1f} µs ({total} tokens, {args.sockets} sockets at once, "
                f"{args.interval_ms:g} ms apart)"
            )
    if "latency" in phases:
        print(f"per-token latency, fake runtime emit → client, 100 tokens at 5 ms, {args.rounds} interleaved rounds:")
        via_gateway, via_acp, direct = await latency_rounds(ws_base, f"http://127.0.0.1:{runtime_port}", args)
        for name, values in (("via gateway v2", via_gateway), ("via gateway ACP", via_acp), ("direct SSE", direct)):
            print(f"  {name:<16} median {statistics.median(values):.3f} ms, p99 {p99(values):.3f} ms")
        for name, values in (("v2", via_gateway), ("ACP", via_acp)):
            added = statistics.median(values) - statistics.median(direct)
            print(f"  added by the gateway hop, {name}: median {added:.3f} ms")
    if "idle" in phases and args.idle:
        await idle_memory(gateway_pid, ws_base, args.idle, "after the load")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=20)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval-ms", type=float, default=0.0, help="pause between tokens in the CPU phase")
    parser.add_argument("--idle", type=int, default=500, help="idle sockets for the memory figure (after the load)")
    parser.add_argument("--idle-fresh", type=int, default=0, help="idle sockets opened first, on the fresh gateway")
    parser.add_argument("--phases", default="cpu,latency,idle", help="comma list of cpu, latency, idle")
    parser.add_argument("--src", help="run the gateway from DIR/gateway instead of the installed package")
    parser.add_argument("--fake-runtime", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_runtime:
        run_fake_runtime(args.fake_runtime)
        return
    runtime_port, gateway_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY__")}
    env |= {
        "GATEWAY__PORT": str(gateway_port),
        "GATEWAY__INTERNAL_API_KEY": KEY,
        "GATEWAY__AGENT_URL": f"http://127.0.0.1:{runtime_port}",
        "GATEWAY__LOG_LEVEL": "WARNING",
        "GATEWAY__WS_RATE_BURST": "1000",
    }
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(Path(args.src).resolve()), env.get("PYTHONPATH"))))
    runtime = subprocess.Popen([sys.executable, __file__, "--fake-runtime", str(runtime_port)])  # noqa: S603
    gateway = subprocess.Popen([sys.executable, "-m", "gateway"], env=env, stdout=subprocess.DEVNULL)
    try:
        for port in (runtime_port, gateway_port):
            for _ in range(600):  # a loaded machine starts the gateway slowly
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.1)
        asyncio.run(measure(args, gateway.pid, gateway_port, runtime_port))
    finally:
        for process in (gateway, runtime):
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
