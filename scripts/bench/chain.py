"""The chain benchmark: added latency per hop, CPU per 1k tokens, capacity, idle sessions, and LiteLLM side by side.

Starts the fake LLM, llm-proxy, agent-runtime and gateway (and LiteLLM's proxy from /tmp/litellm-venv when it is
installed) as processes on free loopback ports, then runs, interleaved round by round (A R F B C D L A R F …):

  A  client → fake (OpenAI SSE)                       B  client → llm-proxy → fake
  R  client → chaos relay → fake                      F  client → bare relay → bare relay → bare relay → fake
  C  client → agent-runtime → llm-proxy → fake        D  WebSocket v2 → gateway → runtime → proxy → fake
  P  ACP WebSocket → gateway → runtime → proxy → fake L  client → LiteLLM proxy → fake (same fake, same client)

R and F carry A's bytes through Python hops that only relay: F's three ``bare_relay.py`` hops are the floor under
the three services' hops on this machine.

at 1 stream (sequential requests) and at N concurrent streams. Added TTFT = TTFT(D) − TTFT(A); added per-token
latency = transit(D) − transit(A), where transit is the arrival time minus the emit time the fake wrote into the
token. Figures are medians over rounds of each round's p50 / p99. CPU is utime+stime from /proc of each service
over each run, divided by the tokens the client received. Then a capacity ramp through the whole chain and K idle
IDE WebSockets (gateway RSS growth per session). ``--quick`` for a short run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import profiles
from chain_report import capacity_lines, idle_lines, latency_lines
from cluster import PYTHON, Cluster, Proc, load_client, machine
from stats import cpu_seconds, rss_bytes

SERVICES = ("llm-proxy", "agent-runtime", "gateway")
CONFIGS = {
    "A": ("fake", "fake"),
    "R": ("fake", "relay"),
    "F": ("fake", "floor1"),
    "B": ("proxy", "llm-proxy"),
    "C": ("runtime", "agent-runtime"),
    "D": ("ws", "gateway"),
    "P": ("acp", "gateway"),
    "L": ("openai", "litellm"),
}


def _cpu(cluster: Cluster) -> dict[str, float]:
    return {n: cpu_seconds(p.pid, tree=n == "litellm") for n, p in cluster.procs.items()}


def run_client(cluster: Cluster, args: argparse.Namespace, config: str, client_args: list[str]) -> dict[str, Any]:
    """One load-client process against ``config``; its summary plus the CPU each process spent meanwhile."""
    target, proc_name = CONFIGS[config]
    proc = cluster.procs[proc_name]
    model = {"B": "mock" if args.mock else args.proxy_model, "L": "fake-model"}.get(config, "fake-model")
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    argv = ["--target", target, "--url", proc.url, "--model", model, "--out", out, "--quiet", *client_args]
    if config in ("B", "C"):
        argv += ["--key", cluster.key]
    if config == "L":
        argv += ["--key", cluster.litellm_key]
    if args.mock and config not in ("A", "F", "L"):
        argv += ["--mock"]
    before = _cpu(cluster)
    client = load_client(argv, args.tool_cpus)
    client.wait()
    after = _cpu(cluster)
    summary: dict[str, Any] = json.loads(Path(out).read_bytes())["summary"]
    Path(out).unlink()
    summary["cpu_s"] = {name: after[name] - before.get(name, 0.0) for name in after}
    return summary


def latency_phase(
    cluster: Cluster, args: argparse.Namespace, streams: int, requests: int, steady: bool = False
) -> dict[str, Any]:
    """Interleaved rounds of every configuration; ``steady``: stream starts spread over one reply's duration and
    each stream's first request left out, so the figures hold ``streams`` concurrently active streams."""
    configs = [c for c in "ARFBCDPL" if CONFIGS[c][1] in cluster.procs]
    rounds: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
    client_args = [
        "--streams", str(streams), "--requests", str(requests), "--tokens", str(args.tokens),
        "--interval-ms", str(args.interval_ms), "--ttft-ms", str(args.ttft_ms), "--timeout", "60",
    ]  # fmt: skip
    if steady:
        duration_ms = args.ttft_ms + args.tokens * args.interval_ms
        client_args += ["--stagger-ms", f"{duration_ms / streams:.3f}", "--warmup-requests", "1"]
    for number in range(args.rounds):
        for config in configs:
            rounds[config].append(run_client(cluster, args, config, client_args))
        print(f"  round {number + 1}/{args.rounds} at {streams} stream(s) done", flush=True)
    return {"streams": streams, "requests": requests, "steady": steady, "rounds": rounds}


def capacity_phase(cluster: Cluster, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Ramp concurrent streams through the whole chain until a rung fails (or the top is reached)."""
    rungs = []
    streams = 1
    while streams <= args.max_streams:
        stagger = min(2.0, args.ramp_interval_ms * args.ramp_tokens / 1e3 / 2) * 1e3 / streams
        client_args = [
            "--streams", str(streams), "--tokens", str(args.ramp_tokens), "--interval-ms", str(args.ramp_interval_ms),
            "--ttft-ms", str(args.ttft_ms), "--stagger-ms", f"{stagger:.3f}", "--timeout", "120",
        ]  # fmt: skip
        summary = run_client(cluster, args, "D", client_args)
        limit = 10 * args.ramp_interval_ms
        failed = summary["failed_requests"] / max(1, summary["requests"])
        summary["passed"] = summary["missing_frames"] == 0 and failed < 0.001 and summary["gap_ms"]["max"] <= limit
        summary["streams"] = streams
        rungs.append(summary)
        print(f"  capacity rung {streams}: {'pass' if summary['passed'] else 'FAIL'}", flush=True)
        if not summary["passed"]:
            break
        streams = min(streams * 2, args.max_streams) if streams < args.max_streams else streams * 2
    return rungs


def idle_phase(cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    """Open K idle IDE-dialect WebSockets; gateway RSS growth per session."""
    gateway = cluster.procs["gateway"]
    time.sleep(1)
    before = rss_bytes(gateway.pid)
    holder = subprocess.Popen(
        [
            PYTHON,
            str(Path(__file__).with_name("load_client.py")),
            "--target",
            "idle",
            "--url",
            gateway.url,
            "--streams",
            str(args.idle),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert holder.stdin is not None
    opened = json.loads(holder.stdout.readline())
    time.sleep(2)
    after = rss_bytes(gateway.pid)
    holder.stdin.close()
    still = json.loads(holder.stdout.readline() or b"{}")
    holder.wait(timeout=60)
    per = (after - before) / max(1, opened["open"])
    return {"asked": args.idle, **opened, **still, "rss_before": before, "rss_after": after, "bytes_per_session": per}


def profile_phase(cluster: Cluster, args: argparse.Namespace) -> list[str]:
    """One D run (and one L run) at the many-streams level under py-spy; the hottest functions per service."""
    out_dir = Path(args.profile)
    client_args = [
        "--streams", str(args.concurrency), "--tokens", str(args.tokens), "--interval-ms", str(args.interval_ms),
        "--ttft-ms", str(args.ttft_ms), "--timeout", "60",
    ]  # fmt: skip
    lines = ["", f"== py-spy profiles at {args.concurrency} streams (files in {out_dir})"]
    for config, names in (("D", SERVICES), ("L", ("litellm",))):
        if not all(n in cluster.procs for n in names):
            continue
        recorders = profiles.record({n: cluster.procs[n].pid for n in names}, out_dir)
        if not recorders:
            return [*lines, "py-spy is not installed (.venv/bin/pip install py-spy): no profiles"]
        time.sleep(1)
        run_client(cluster, args, config, client_args)
        profiles.finish(recorders)
        for name in names:
            lines += profiles.top(out_dir / f"{name}.txt")
    return lines


def _start(args: argparse.Namespace) -> tuple[Cluster, Proc | None]:
    cluster = Cluster(
        proxy_model=args.proxy_model,
        service_cpus=args.service_cpus,
        tool_cpus=args.tool_cpus,
        src_root=Path(args.src_root) if args.src_root else None,
    )
    try:
        cluster.start_fake()
        cluster.start_relay()
        cluster.start_floor()
        litellm = None if args.no_litellm else cluster.start_litellm()
        cluster.start_chain(mock=args.mock)
        if litellm is not None and not _litellm_healthy(cluster):
            litellm = None
    except BaseException:
        cluster.stop()
        raise
    return cluster, litellm


def _litellm_healthy(cluster: Cluster) -> bool:
    try:
        if cluster.wait_healthy("litellm", "/health/liveliness", 180):
            return True
    except RuntimeError as exc:
        print(f"LiteLLM failed to start ({exc}); continuing without it", flush=True)
    else:
        print("LiteLLM did not become healthy in 180 s; continuing without it", flush=True)
    cluster.stop_one("litellm")
    return False


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run: fewer rounds, smaller ramp and idle count")
    parser.add_argument("--rounds", type=int, default=0, help="interleaved rounds (default 5 quick, 7 full)")
    parser.add_argument("--concurrency", type=int, default=200, help="the many-streams level")
    parser.add_argument("--single-requests", type=int, default=0, help="sequential requests per round at 1 stream")
    parser.add_argument("--many-requests", type=int, default=3, help="sequential requests per stream (first: warm-up)")
    parser.add_argument("--herd", action="store_true", help="also the all-streams-open-at-once variant")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    parser.add_argument("--ramp-tokens", type=int, default=0, help="tokens per stream on the capacity ramp")
    parser.add_argument("--ramp-interval-ms", type=float, default=100.0)
    parser.add_argument("--max-streams", type=int, default=0, help="top of the capacity ramp")
    parser.add_argument("--idle", type=int, default=0, help="idle WebSockets to open (default 1000 quick, 5000)")
    parser.add_argument("--phases", default="latency,capacity,idle", help="comma list of latency, capacity, idle")
    parser.add_argument("--proxy-model", default="openai/fake-model", help="model the proxy routes to the fake")
    parser.add_argument("--mock", action="store_true", help="smoke run on the proxy's mock model (no figures)")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--service-cpus", default="", help="taskset CPU list for the services, e.g. 0")
    parser.add_argument("--tool-cpus", default="", help="taskset CPU list for the fake and the client, e.g. 1")
    parser.add_argument("--src-root", default="", help="run the services from this source snapshot")
    parser.add_argument("--out", default="", help="write every figure as JSON here")
    parser.add_argument("--report", default="", help="print the report of a saved --out file; run nothing")
    parser.add_argument("--profile", default="", help="also profile one D and one L run with py-spy into this dir")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (5 if quick else 7)
    args.single_requests = args.single_requests or (10 if quick else 30)
    args.ramp_tokens = args.ramp_tokens or (30 if quick else 60)
    args.max_streams = args.max_streams or (512 if quick else 2048)
    args.idle = args.idle or (1000 if quick else 5000)
    return args


def measure(args: argparse.Namespace, started: str) -> dict[str, Any]:
    """Start the processes, run the chosen phases, stop everything; every figure in one dict."""
    phases = set(args.phases.split(","))
    cluster, litellm = _start(args)
    results: dict[str, Any] = {"date": started, "machine": machine(), "args": vars(args)}
    try:
        if litellm is None and not args.no_litellm:
            print("LiteLLM is not installed in /tmp/litellm-venv: the side-by-side columns are missing", flush=True)
        if "latency" in phases:
            results["single"] = latency_phase(cluster, args, 1, args.single_requests)
            if args.herd:
                results["herd"] = latency_phase(cluster, args, args.concurrency, 1)
            results["many"] = latency_phase(cluster, args, args.concurrency, args.many_requests, steady=True)
        if "capacity" in phases:
            results["capacity"] = capacity_phase(cluster, args)
        if "idle" in phases:
            results["idle"] = idle_phase(cluster, args)
        if args.profile:
            results["profile"] = profile_phase(cluster, args)
    finally:
        cluster.stop()
    return results


def render(results: dict[str, Any]) -> list[str]:
    """The printed report for a results dict (fresh, or loaded back with ``--report``)."""
    args = argparse.Namespace(**results["args"])
    lines = [f"chain benchmark {results['date']}; {results['machine']}"]
    for key in ("single", "herd", "many"):
        if key in results:
            lines += latency_lines(results[key], args)
    if "capacity" in results:
        lines += capacity_lines(results["capacity"], args)
    if "idle" in results:
        lines += idle_lines(results["idle"])
    profile: list[str] = results.get("profile", [])
    return lines + profile


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.report:
        print("\n".join(render(json.loads(Path(args.report).read_text()))))
        return
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print(f"chain benchmark {started}; {machine()}", flush=True)
    results = measure(args, started)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    print("\n".join(render(results)))


if __name__ == "__main__":
    main()
