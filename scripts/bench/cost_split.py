"""Split each service's CPU into a per-turn and a per-token part.

Runs the same load (``--streams`` × ``--requests``) through B, C and D twice, with few and with many tokens per reply,
reads utime+stime from /proc around each run and solves cpu = turns·T + tokens·K per service. Also prints each
service's idle CPU. /proc counts in 10 ms ticks: keep the load large enough for the totals to be well above that.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import chain
from cluster import Cluster, machine
from stats import cpu_seconds


def split(low: dict[str, Any], high: dict[str, Any], service: str) -> tuple[float, float]:
    """(ms per turn, µs per token) for ``service`` from a few-token and a many-token run of the same turns."""
    turns = low["requests"]
    tokens_low, tokens_high = low["all_content_frames"], high["all_content_frames"]
    cpu_low, cpu_high = low["cpu_s"][service], high["cpu_s"][service]
    per_token = (cpu_high - cpu_low) / max(1, tokens_high - tokens_low)
    per_turn = (cpu_low - tokens_low * per_token) / max(1, turns)
    return per_turn * 1e3, per_token * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--few", type=int, default=4, help="tokens per reply in the first run")
    parser.add_argument("--many", type=int, default=128, help="tokens per reply in the second run")
    parser.add_argument("--interval-ms", type=float, default=5.0)
    parser.add_argument("--src-root", default="")
    args = parser.parse_args(argv)
    chain_args = chain.parse(["--no-litellm"])
    print(f"cost split {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; {machine()}", flush=True)
    cluster = Cluster(src_root=Path(args.src_root) if args.src_root else None)
    try:
        cluster.start_fake()
        cluster.start_chain()
        before = {name: cpu_seconds(proc.pid) for name, proc in cluster.procs.items()}
        time.sleep(5)
        idle = {name: (cpu_seconds(proc.pid) - before[name]) / 5 * 1e3 for name, proc in cluster.procs.items()}
        print("idle CPU, ms per second: " + ", ".join(f"{n} {v:.1f}" for n, v in idle.items()))
        for config, services in (("B", chain.SERVICES[:1]), ("C", chain.SERVICES[:2]), ("D", chain.SERVICES)):
            runs = []
            for tokens in (args.few, args.many):
                client_args = ["--streams", str(args.streams), "--requests", str(args.requests)]
                client_args += ["--tokens", str(tokens), "--interval-ms", str(args.interval_ms)]
                client_args += ["--ttft-ms", "5", "--timeout", "120"]
                runs.append(chain.run_client(cluster, chain_args, config, client_args))
            failed = sum(r["failed_requests"] for r in runs)
            for service in services:
                turn_ms, token_us = split(runs[0], runs[1], service)
                line = f"{config} {service:<14} {turn_ms:7.2f} ms per turn {token_us:8.1f} µs per token"
                print(f"{line}  (failed requests {failed})")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
