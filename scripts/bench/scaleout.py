"""Tokens/s of two runtime processes against one at saturation, on one PostgreSQL database (issue 16).

The runtime tier alone is driven: runtimes A and B on a fresh database call the fake LLM directly as their model
(``AGENT_RUNTIME__LLM_PROXY_URL`` = the fake, which speaks ``/v1/chat/completions``; no llm-proxy, the cheapest model
source there is), and this process is the load client, posting turns straight to ``POST /agent/message/stream`` with
the internal key (no gateway). ``--sessions`` workers each run turns one after another, every turn on a new session,
of N tokens from the fake at zero delay (``[fake tokens=N interval_ms=0 ttft_ms=0]``), for each N of ``--tokens``;
the workers are spread evenly over the plan's runtimes. After ``--warmup`` seconds, ``--seconds`` are measured:
tokens delivered at the client (each ``assistant_message`` delta's tokens, counted as they arrive), CPU seconds of
every process from ``/proc/<pid>/stat`` (each runtime, the fake, this client, and the PostgreSQL backends connected
to the bench database), and from those each one's share of a core (the bottleneck is the process near 100%) and CPU
per 1,000 tokens; with two turn lengths or more, the runtime's and PostgreSQL's CPU split into per turn and per token.

Pinning plans (CPU affinity set with ``sched_setaffinity`` on every thread of each process, again before each run):

- ``one``: runtime A alone on CPU 1; the fake and the client on CPU 0 (B idle on CPU 0). The one-core ceiling.
- ``two``: runtime A on CPU 1, runtime B on CPU 0, the fake and the client free on both. Two replicas on this
  machine: the helpers take their CPU from the runtimes' two cores, so the ratio two/one is below what two cores
  of runtimes alone would give.
- ``shared``: runtimes A and B both on CPU 1; the fake and the client on CPU 0. The same one core as ``one`` for
  two replicas: what being two processes costs (leases, relaying every delta through PostgreSQL NOTIFY).
- ``free``: one runtime, nothing pinned; ``two-free``: two runtimes, nothing pinned (the scheduler's choice).

PostgreSQL is shared with the machine and not pinned. One discarded run of ``two`` warms both runtimes and the
database; then the plans run interleaved per round and the ratio two/one is taken per round. Each process's line
shows its share of a core busy and, after the ``+``, runnable but waiting for a CPU (``/proc/<pid>/task/*/schedstat``):
on a machine shared with others the waiting part is the neighbours' share.

Computed, not measured (``projections``), from the medians of CPU per 1,000 tokens of the runtimes and of the
helpers (fake, client, PostgreSQL backends): tokens/s of one runtime process on a core of its own; two/one on this
machine were it ours alone (one runtime on a core and the helpers on the other, against two runtimes and the helpers
sharing both); and two/one with a core per runtime and more cores for the helpers. Run from the repository root:

    .venv/bin/python scripts/bench/scaleout.py --plans one,two,shared --tokens 200,2000 --rounds 3 --sessions 64 \\
        --seconds 10 --warmup 3

Figures (the command above, 2026-12-02 07:39–07:44 UTC, the machine otherwise idle; the reading in
doc/benchmarks.md, Replicas): medians, 200-token turns — one 6,520 tokens/s, two 10,579 (1.63x per round), shared
6,400 (0.97x); 2,000-token turns — one 22,067, two 31,740 (1.48x), shared 21,631 (0.99x). Runtime CPU 31.5 µs per
token + 17 ms per turn; PostgreSQL 8.9 µs per token + 6.3 ms per turn. Computed: one runtime process on a core of its
own 8,100 (200-token turns) and 27,800 tokens/s (2,000-token turns); two/one with a core per runtime 2.18x / 1.88x.
Runs on a machine loaded by others measure the scheduler's shares instead (``shared`` then "scales" like ``two``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import profiles
from cluster import POSTGRES_URL, Cluster, create_database, drop_database, machine
from stats import cpu_seconds, median, run

RUNTIMES = ("runtime-a", "runtime-b")


@dataclass(frozen=True)
class Plan:
    """Which runtimes take turns, and the CPUs of each process (empty: every CPU)."""

    runtimes: tuple[str, ...]
    cpus: dict[str, frozenset[int]]


def _plans() -> dict[str, Plan]:
    zero, one, both = frozenset({0}), frozenset({1}), frozenset({0, 1})
    return {
        "one": Plan(("runtime-a",), {"runtime-a": one, "runtime-b": zero, "fake": zero, "client": zero}),
        "two": Plan(RUNTIMES, {"runtime-a": one, "runtime-b": zero, "fake": both, "client": both}),
        "shared": Plan(RUNTIMES, {"runtime-a": one, "runtime-b": one, "fake": zero, "client": zero}),
        "free": Plan(("runtime-a",), dict.fromkeys(("runtime-a", "runtime-b", "fake", "client"), both)),
        "two-free": Plan(RUNTIMES, dict.fromkeys(("runtime-a", "runtime-b", "fake", "client"), both)),
    }


PLANS = _plans()


def parse_plans(text: str) -> list[str]:
    """``one,two`` → the plan names, in order; a clear error for an unknown one."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PLANS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown plan(s) {unknown or text!r}; known: {', '.join(PLANS)}")
    return names


def parse_counts(text: str) -> list[int]:
    """``200,2000`` → token counts per turn, each at least 1."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"tokens per turn: positive integers separated by commas, not {text!r}")
    return counts


def split(points: list[tuple[int, float]]) -> tuple[float, float]:
    """(tokens per turn, CPU ms per 1,000 tokens) at two or more turn lengths → (ms per turn, µs per token): the least
    squares line through the cost of one turn, ``ms = per_turn + per_token × tokens``."""
    xs = [float(tokens) for tokens, _ in points]
    ys = [per_1k * tokens / 1000 for tokens, per_1k in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)
    return mean_y - slope * mean_x, slope * 1000


@dataclass
class Counters:
    """What the client saw, per runtime: tokens in deltas, finished turns, failed turns."""

    tokens: dict[str, int] = field(default_factory=dict)
    turns: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def snapshot(self) -> dict[str, int]:
        return dict(self.tokens)


def report(
    seconds: float, tokens: dict[str, int], cpu: dict[str, float], runtimes: tuple[str, ...]
) -> dict[str, Any]:  # fmt: skip
    """The figures of one measured window: ``tokens`` delivered per runtime and ``cpu`` seconds per process over
    ``seconds``. Tokens/s, each process's share of one core, CPU ms per 1,000 tokens (a runtime's over its own
    tokens, a helper's over all), and the projection for one runtime process per core."""
    total = sum(tokens.get(name, 0) for name in runtimes)
    per_1k: dict[str, float] = {}
    for name, spent in cpu.items():
        count = tokens.get(name, 0) if name in RUNTIMES else total
        per_1k[name] = spent / count * 1e6 if count else float("nan")
    runtime_cpu = sum(cpu.get(name, 0.0) for name in runtimes)
    helper_cpu = sum(spent for name, spent in cpu.items() if name not in RUNTIMES)
    return {
        "seconds": seconds,
        "tokens": total,
        "tokens_per_s": total / seconds if seconds else float("nan"),
        "core_share": {name: spent / seconds for name, spent in cpu.items()},
        "cpu_ms_per_1k_tokens": per_1k,
        "runtime_cpu_ms_per_1k_tokens": runtime_cpu / total * 1e6 if total else float("nan"),
        "helper_cpu_ms_per_1k_tokens": helper_cpu / total * 1e6 if total else float("nan"),
    }


def projections(runtime_one: float, helpers_one: float, runtime_two: float, helpers_two: float) -> dict[str, float]:
    """Computed, not measured, from CPU ms per 1,000 tokens of the runtimes and of the helpers (fake, client,
    PostgreSQL) with one runtime and with two:

    - ``per_core``: tokens/s of one runtime process that has a core to itself (1 / its CPU per token);
    - ``quiet_two_cores``: two/one on this machine if it were ours alone: one runtime on a core and the helpers on
      the other (the slower of the two sets the rate) against two runtimes and the helpers sharing both cores;
    - ``own_cores``: two/one when each runtime has a core of its own and the helpers more cores (four or more): the
      runtime tier's own scaling, what being two replicas costs per token included."""
    return {
        "per_core": 1e6 / runtime_one,
        "quiet_two_cores": (2e6 / (runtime_two + helpers_two)) / (1e6 / max(runtime_one, helpers_one)),
        "own_cores": 2 * runtime_one / runtime_two,
    }


def pin(pid: int, cpus: frozenset[int]) -> None:
    """Every thread of ``pid`` onto ``cpus`` (threads started later inherit it from their creator)."""
    with contextlib.suppress(FileNotFoundError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(int(tid), cpus)


def runqueue_seconds(pid: int) -> float:
    """Seconds the threads of ``pid`` spent runnable but waiting for a CPU (``/proc/<pid>/task/*/schedstat``):
    a process busy plus waiting for about the whole window is CPU-bound, whatever its neighbours leave it."""
    total = 0
    with contextlib.suppress(FileNotFoundError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
    return total / 1e9


async def backend_pids(database: str) -> list[int]:
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    finally:
        await admin.close()
    return [int(row["pid"]) for row in rows]


def backend_cpu(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            os.stat(f"/proc/{pid}")
            found[pid] = cpu_seconds(pid)
    return found


async def turn(http: aiohttp.ClientSession, url: str, name: str, content: str, counters: Counters) -> None:
    """One turn on a new session; every delta's tokens (one ``@`` each: ``t<i>@<ns>``) counted as they arrive."""
    body = {"session_id": f"sat-{uuid.uuid4().hex[:16]}", "message": {"type": "user_message", "content": content}}
    async with http.post(url, data=orjson.dumps(body)) as response:
        if response.status != 200:
            counters.errors.append(f"{name}: HTTP {response.status}")
            return
        buffer = b""
        async for data in response.content.iter_any():
            buffer += data
            events = buffer.split(b"\n\n")
            buffer = events.pop()
            for event in events:
                if b'"is_final":false' in event:
                    counters.tokens[name] += event.count(b"@")
                elif b'"type":"done"' in event:
                    counters.turns[name] += 1
                    return
                elif b'"type":"error"' in event:
                    counters.errors.append(f"{name}: {event[-200:].decode(errors='replace')}")
    counters.errors.append(f"{name}: the stream ended without its done")


async def worker(
    http: aiohttp.ClientSession, url: str, name: str, content: str, counters: Counters, stop: asyncio.Event
) -> None:  # fmt: skip
    while not stop.is_set():
        await turn(http, url, name, content, counters)


async def measure(
    cluster: Cluster, database: str, plan_name: str, tokens_per_turn: int, args: argparse.Namespace
) -> dict[str, Any]:  # fmt: skip
    plan = PLANS[plan_name]
    for name in (*RUNTIMES, "fake"):
        pin(cluster.procs[name].pid, plan.cpus[name])
    pin(os.getpid(), plan.cpus["client"])
    counters = Counters(dict.fromkeys(RUNTIMES, 0), dict.fromkeys(RUNTIMES, 0))
    content = f"go [fake tokens={tokens_per_turn} interval_ms=0 ttft_ms=0]"
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    headers = {"x-internal-auth": cluster.key, "content-type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as http:
        workers = []
        for index in range(args.sessions):
            name = plan.runtimes[index % len(plan.runtimes)]
            url = f"{cluster.procs[name].url}/agent/message/stream"
            workers.append(asyncio.create_task(worker(http, url, name, content, counters, stop)))
        await asyncio.sleep(args.warmup)
        pids = await backend_pids(database)
        watched = {name: cluster.procs[name].pid for name in (*RUNTIMES, "fake")}
        before_cpu = {name: cpu_seconds(pid) for name, pid in watched.items()} | {"client": cpu_seconds(os.getpid())}
        watched["client"] = os.getpid()
        before_wait = {name: runqueue_seconds(pid) for name, pid in watched.items()}
        samples = args.profile / f"{tokens_per_turn}-{plan_name}" if args.profile else None
        recorders = profiles.record({"runtime-a": watched["runtime-a"]}, samples) if samples else {}
        before_pg, before_tokens, started = backend_cpu(pids), counters.snapshot(), time.monotonic()
        await asyncio.sleep(args.seconds)
        after_tokens, elapsed = counters.snapshot(), time.monotonic() - started
        profiles.finish(recorders)
        after_cpu = {name: cpu_seconds(pid) for name, pid in watched.items()}
        after_wait = {name: runqueue_seconds(pid) for name, pid in watched.items()}
        after_pg = backend_cpu(pids)
        stop.set()  # each worker ends its current turn: the runtimes are idle before the next plan
        done, pending = await asyncio.wait(workers, timeout=args.drain)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                counters.errors.append(repr(task.exception()))
    cpu = {name: after_cpu[name] - before_cpu[name] for name in after_cpu}
    cpu["postgres"] = sum(after_pg[pid] - before_pg[pid] for pid in after_pg if pid in before_pg)
    tokens = {name: after_tokens[name] - before_tokens[name] for name in RUNTIMES}
    result = report(elapsed, tokens, cpu, plan.runtimes)
    result["waiting_share"] = {name: (after_wait[name] - before_wait[name]) / elapsed for name in after_wait}
    result["load_average"] = os.getloadavg()[0]
    result |= {
        "tokens_per_turn": tokens_per_turn,
        "plan": plan_name,
        "tokens_by_runtime": tokens,
        "turns_whole_run": counters.turns,
        "errors": counters.errors[:5],
    }
    result["error_count"] = len(counters.errors)
    if pending:
        result["errors"].append(f"{len(pending)} workers still in a turn after {args.drain} s (cancelled)")
    return result


def line(result: dict[str, Any]) -> str:
    waiting = result["waiting_share"]
    share = " ".join(
        f"{name}={value * 100:.0f}%" + (f"+{waiting[name] * 100:.0f}%" if name in waiting else "")
        for name, value in result["core_share"].items()
    )
    per_1k = " ".join(f"{name}={value:.0f}" for name, value in result["cpu_ms_per_1k_tokens"].items())
    return (
        f"{result['tokens_per_turn']}-token turns {result['plan']:8s} {result['tokens_per_s']:8.0f} tokens/s"
        f" ({result['tokens']} in {result['seconds']:.1f} s,"
        f" by runtime {result['tokens_by_runtime']}, errors {result['error_count']}, load average"
        f" {result['load_average']:.1f})\n"
        f"         core share, busy+waiting for a CPU: {share}\n         CPU ms per 1k tokens: {per_1k}"
    )


def summary(results: list[dict[str, Any]], plans: list[str]) -> list[str]:
    """Per turn length: medians over rounds per plan, the per-round ratio of each plan to the first plan with one
    runtime (``one``, ``free``), the computed projections; with two turn lengths or more, the runtime's and PostgreSQL's
    CPU split into per turn and per token (from the plans with two runtimes when there are any)."""
    out = []
    counts = sorted({r["tokens_per_turn"] for r in results})
    for count in counts:
        out.extend(_summary_of(count, [r for r in results if r["tokens_per_turn"] == count], plans))
    if len(counts) > 1:
        for what, key in (("a runtime", None), ("PostgreSQL", "postgres")):
            points = []
            for count in counts:
                same = [r for r in results if r["tokens_per_turn"] == count]
                rows = [r for r in same if len(PLANS[r["plan"]].runtimes) > 1] or same
                values = (r["cpu_ms_per_1k_tokens"][key] if key else r["runtime_cpu_ms_per_1k_tokens"] for r in rows)
                points.append((count, median(values)))
            per_turn, per_token = split(points)
            out.append(
                f"CPU of {what}, split over the turn lengths: {per_turn:.1f} ms per turn + {per_token:.1f} µs per token"
            )
    return out


def _summary_of(count: int, results: list[dict[str, Any]], plans: list[str]) -> list[str]:
    out = []
    by_plan = {name: [r for r in results if r["plan"] == name] for name in plans}
    singles = [name for name in plans if len(PLANS[name].runtimes) == 1]
    doubles = [name for name in plans if len(PLANS[name].runtimes) > 1]
    base_name = singles[0] if singles else None
    base = {r["round"]: r["tokens_per_s"] for r in by_plan.get(base_name or "", [])}
    for name, rows in by_plan.items():
        rates = [r["tokens_per_s"] for r in rows]
        spread = f"[{min(rates):.0f}–{max(rates):.0f}]"
        text = f"{count}-token turns {name:8s} median {median(rates):8.0f} tokens/s over {len(rows)} rounds {spread}"
        ratios = [r["tokens_per_s"] / base[r["round"]] for r in rows if base.get(r["round"])]
        if name != base_name and ratios:
            text += f"; ÷ {base_name}, per round: median {median(ratios):.2f}x [{min(ratios):.2f}–{max(ratios):.2f}]"
        runtime = median(r["runtime_cpu_ms_per_1k_tokens"] for r in rows)
        helpers = median(r["helper_cpu_ms_per_1k_tokens"] for r in rows)
        text += f"; CPU ms per 1k tokens: runtimes {runtime:.0f}, helpers {helpers:.0f}"
        out.append(text)
    one, two = by_plan.get(base_name or ""), by_plan.get(doubles[0]) if doubles else None
    if one and two:
        costs = [median(r[key] for r in rows) for rows in (one, two) for key in ("runtime_cpu_ms_per_1k_tokens",
                 "helper_cpu_ms_per_1k_tokens")]  # fmt: skip
        computed = projections(*costs)
        out.append(
            f"{count}-token turns, computed from CPU per token (not measured): runtime {costs[0]:.0f} ms per 1k tokens"
            f" alone, {costs[2]:.0f} as one of two; helpers {costs[1]:.0f} / {costs[3]:.0f}. One runtime process on a"
            f" core of its own: {computed['per_core']:.0f} tokens/s. Two/one on this machine were it ours alone: "
            f"{computed['quiet_two_cores']:.2f}x; with a core per runtime and more for the helpers: "
            f"{computed['own_cores']:.2f}x"
        )
    return out


async def main(args: argparse.Namespace) -> None:
    database, url = await create_database("bench_scaleout")
    cluster = Cluster()
    print(f"machine: {machine()}; load average at start {os.getloadavg()}", flush=True)
    try:
        fake = cluster.start_fake("--ttft-ms", "0", "--interval-ms", "0")
        for name in RUNTIMES:
            cluster._service(
                name, "agent_runtime", "AGENT_RUNTIME__",
                {"AGENT_RUNTIME__LLM_PROXY_URL": fake.url, "AGENT_RUNTIME__LLM_MODEL": "fake-model",
                 "AGENT_RUNTIME__DB_URL": url, "AGENT_RUNTIME__MULTI_AGENT_MODE": "false"},
            )  # fmt: skip
            cluster.wait_healthy(name, "/health", 60)  # one at a time: the first one migrates the database
        warm = await measure(cluster, database, "two", max(args.tokens), args)  # fresh processes, a fresh database
        print(f"warm-up (discarded): {warm['tokens_per_s']:.0f} tokens/s, errors {warm['error_count']}", flush=True)
        results = []
        for number in range(args.rounds):
            for count in args.tokens:
                for plan_name in args.plans:
                    result = await measure(cluster, database, plan_name, count, args)
                    result["round"] = number
                    results.append(result)
                    print(f"round {number} {line(result)}", flush=True)
                    if args.profile:
                        print("\n".join(profiles.top(args.profile / f"{count}-{plan_name}" / "runtime-a.txt")))
        print(f"load average at the end {os.getloadavg()}")
        for text in summary(results, args.plans):
            print(text)
        if args.json:
            print(json.dumps(results, indent=1))
    finally:
        cluster.stop()
        await drop_database(database)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plans", type=parse_plans, default=parse_plans("one,two,shared"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=64, help="concurrent turns in all (spread over the runtimes)")
    parser.add_argument(
        "--tokens",
        type=parse_counts,
        default=[2000],
        help="tokens per turn; several (200,2000) split CPU per turn/token",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per plan and round")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before the window")
    parser.add_argument("--drain", type=float, default=120.0, help="longest wait for the turns running at the end")
    parser.add_argument(
        "--profile", type=Path, help="py-spy runtime A during each window into this folder (perturbs the figures)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if os.cpu_count() is None or (os.cpu_count() or 0) < 2:
        parser.error("the pinning plans need at least two CPUs")
    return args


if __name__ == "__main__":
    run(main(parse()))
