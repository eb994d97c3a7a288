"""Interleaved before/after CPU and latency of llm-proxy source trees, against ``scripts/bench/fake_llm.py``.

Each variant is a directory holding ``llm-proxy/src`` and ``service-kit/src`` (a copy of the tree before a change,
the repository after); every variant runs as its own ``python -m llm_proxy`` on a free port in front of one fake,
and ``scripts/bench/load_client.py --target proxy`` drives them in turn, round after round (order reversed every
other round); the fake directly is row ``A``. CPU is utime+stime of the proxy process from ``/proc``.

    S=/tmp/proxy-before; mkdir -p $S/llm-proxy $S/service-kit
    cp -r llm-proxy/src $S/llm-proxy/ && cp -r service-kit/src $S/service-kit/
    .venv/bin/python llm-proxy/benchmarks/before_after.py --rounds 4 --scenarios req,tok,herd,s1 \\
        before=/tmp/proxy-before after=.

Scenarios: ``req`` 20 streams x 100 requests of 2 tokens, no pauses (CPU per request); ``tok`` 100 streams of 256
tokens 5 ms apart (CPU per token); ``herd`` 200 streams opened at once, 64 tokens 20 ms apart; ``steady`` 200
streams spread over one reply, 3 requests each, the first left out; ``s1`` one stream, 20 requests of 64 tokens
(added time to first token).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench"
PY = str(ROOT / ".venv" / "bin" / "python")
KEY = "k" * 32
sys.path.insert(0, str(BENCH))
from stats import cpu_seconds  # noqa: E402 - the bench tools are scripts, not a package

SCENARIOS = {
    "s1": ["--streams", "1", "--requests", "20", "--tokens", "64", "--interval-ms", "20", "--ttft-ms", "20"],
    "herd": ["--streams", "200", "--requests", "1", "--tokens", "64", "--interval-ms", "20", "--ttft-ms", "20"],
    "tok": ["--streams", "100", "--tokens", "256", "--interval-ms", "5", "--ttft-ms", "0", "--stagger-ms", "5"],
    "steady": [
        *("--streams", "200", "--requests", "3", "--tokens", "64", "--interval-ms", "20", "--ttft-ms", "20"),
        *("--stagger-ms", "6.4", "--warmup-requests", "1"),
    ],
    "req": ["--streams", "20", "--requests", "100", "--tokens", "2", "--interval-ms", "0", "--ttft-ms", "0"],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_fake() -> tuple[subprocess.Popen[bytes], int]:
    argv = [PY, str(BENCH / "fake_llm.py"), "--port", "0"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # noqa: S603
    assert process.stdout is not None
    return process, int(json.loads(process.stdout.readline())["port"])


def start_proxy(root: str, fake_port: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{root}/llm-proxy/src:{root}/service-kit/src",
        "LLM_PROXY__HOST": "127.0.0.1",
        "LLM_PROXY__PORT": str(port),
        "LLM_PROXY__INTERNAL_API_KEY": KEY,
        "LLM_PROXY__LOG_LEVEL": "WARNING",
        "LLM_PROXY__OPENAI_BASE_URL": f"http://127.0.0.1:{fake_port}/v1",
        "LLM_PROXY__OPENAI_API_KEY": "sk-fake-benchmark-key",
        "LLM_PROXY__DEFAULT_MODEL": "openai/fake-model",
    }
    workdir = tempfile.mkdtemp(prefix="proxy-bench-")
    with open(f"{workdir}/stderr.log", "wb") as log:
        argv = [PY, "-m", "llm_proxy"]
        process = subprocess.Popen(argv, env=env, cwd=workdir, stderr=log, stdout=subprocess.DEVNULL)  # noqa: S603
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return process, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the proxy from {root} did not start; see {workdir}/stderr.log")


def run_load(target: str, port: int, scenario: str) -> dict[str, Any]:
    handle, out = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    model = "openai/fake-model" if target == "proxy" else "fake-model"
    argv = [PY, str(BENCH / "load_client.py"), "--target", target, "--url", f"http://127.0.0.1:{port}"]
    argv += ["--key", KEY, "--quiet", "--out", out, "--model", model, *SCENARIOS[scenario]]
    subprocess.run(argv, check=True)  # noqa: S603
    with open(out, "rb") as f:
        summary: dict[str, Any] = json.load(f)["summary"]
    os.unlink(out)
    return summary


def report(results: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    print("\n== medians over rounds")
    for scenario, per in results.items():
        base = per["A"]
        for name, rows in per.items():

            def median(key: str, quantile: str, rows: list[dict[str, Any]] = rows) -> float:
                return statistics.median(x[key][quantile] for x in rows)

            cpu = statistics.median(x["cpu_s"] for x in rows)
            frames = statistics.median(x["all_content_frames"] for x in rows)
            requests = statistics.median(x["requests"] for x in rows)
            line = (
                f"{scenario:6} {name:8} ttft p50 {median('ttft_ms', 'p50'):8.2f} p99 {median('ttft_ms', 'p99'):8.2f}"
                f"  tok p50 {median('transit_ms', 'p50'):6.3f}  cpu/1k tok {cpu / frames * 1e6:7.1f} ms"
                f"  cpu/req {cpu / requests * 1e3:6.3f} ms"
            )
            if name != "A":
                pairs = list(zip(rows, base, strict=True))
                d50 = statistics.median(x["ttft_ms"]["p50"] - b["ttft_ms"]["p50"] for x, b in pairs)
                d99 = statistics.median(x["ttft_ms"]["p99"] - b["ttft_ms"]["p99"] for x, b in pairs)
                line += f"  added ttft p50 {d50:7.2f} p99 {d99:7.2f}"
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", default="req,tok,herd,s1")
    parser.add_argument("variants", nargs="+", help="name=source-root")
    args = parser.parse_args()
    fake, fake_port = start_fake()
    roots = {name: str(Path(root).resolve()) for name, root in (v.split("=", 1) for v in args.variants)}
    proxies = {name: start_proxy(root, fake_port) for name, root in roots.items()}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        for _, port in proxies.values():  # warm-up: connections, imports, caches
            run_load("proxy", port, "req")
        for number in range(args.rounds):
            for scenario in args.scenarios.split(","):
                order = [(n, "proxy", port) for n, (_, port) in proxies.items()]
                for name, target, port in [("A", "fake", fake_port), *(order[::-1] if number % 2 else order)]:
                    pid = fake.pid if name == "A" else proxies[name][0].pid
                    before = cpu_seconds(pid)
                    summary = run_load(target, port, scenario)
                    summary["cpu_s"] = cpu_seconds(pid) - before
                    results.setdefault(scenario, {}).setdefault(name, []).append(summary)
                    ttft = summary["ttft_ms"]
                    print(
                        f"r{number} {scenario:6} {name:8} ttft p50 {ttft['p50']:8.2f} p99 {ttft['p99']:8.2f}"
                        f" cpu {summary['cpu_s'] * 1000:6.0f} ms frames {summary['all_content_frames']}"
                        f" failed {summary['failed_requests']}",
                        flush=True,
                    )
    finally:
        for process, _ in proxies.values():
            process.terminate()
        fake.terminate()
    report(results)


if __name__ == "__main__":
    main()
