"""The llm-proxy's front doors side by side: CPU per token and added time to first token of ``/v1/messages`` and
``/v1/responses`` next to ``/v1/chat/completions``, and next to LiteLLM's proxy on the same endpoints, on the same
fake LLM (OpenAI wire), interleaved per round.

Every configuration streams the same answer (the fake's tokens ``t<i>@<emit ns>`` inside each door's own events),
so one client reads them all: TTFT is the first token's arrival after the request was sent, transit a token's
arrival minus its emit time (the clock is shared on the machine). The proxy's and LiteLLM's CPU is read from
``/proc`` around each run and divided by the tokens received. Configurations whose server does not answer a door
(e.g. LiteLLM's Responses on an upstream without one) are reported with their error and left out of the ratios.

    .venv/bin/python scripts/bench/doors.py [--rounds 3] [--requests 20] [--streams 1,32] [--tokens 64]
        [--doors chat,messages,responses] [--no-litellm] [--out results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from cluster import Cluster, machine
from stats import cpu_seconds, median, parse_tokens, run, summarize

MODEL = "fake-model"
PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}


def body(door: str, model: str, prompt: str) -> dict[str, Any]:
    """One streamed request for ``door``."""
    if door == "chat":
        messages = [{"role": "user", "content": prompt}]
        return {"model": model, "messages": messages, "stream": True, "stream_options": {"include_usage": True}}
    if door == "messages":
        return {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": prompt}], "stream": True}
    return {"model": model, "input": prompt, "stream": True, "store": False}


@dataclass
class Config:
    name: str  # fake | proxy | litellm
    door: str
    url: str
    headers: dict[str, str]
    model: str
    pid: int | None = None  # whose CPU is measured

    @property
    def label(self) -> str:
        return f"{self.name}:{self.door}"


@dataclass
class Measured:
    ttft_ms: list[float] = field(default_factory=list)
    transit_ms: list[float] = field(default_factory=list)
    tokens: int = 0
    errors: list[str] = field(default_factory=list)
    cpu_s: float = 0.0


async def one_request(session: aiohttp.ClientSession, config: Config, prompt: str, out: Measured) -> None:
    seen: set[int] = set()
    sent = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    try:
        async with session.post(
            config.url + PATHS[config.door], json=body(config.door, config.model, prompt), headers=config.headers
        ) as response:
            if response.status != 200:
                out.errors.append(f"HTTP {response.status}: {(await response.text())[:200]}")
                return
            async for chunk in response.content.iter_any():
                now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                # A door may repeat the text in its closing events (Responses' *.done, completed): first sight only.
                for index, emitted in parse_tokens(chunk.decode("utf-8", "replace")):
                    if index in seen:
                        continue
                    if not seen:
                        out.ttft_ms.append((now - sent) / 1e6)
                    seen.add(index)
                    out.transit_ms.append((now - emitted) / 1e6)
    except (aiohttp.ClientError, TimeoutError) as exc:
        out.errors.append(type(exc).__name__)
    out.tokens += len(seen)


async def measure(config: Config, streams: int, requests: int, prompt: str) -> Measured:
    out = Measured()
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await one_request(session, config, prompt, Measured())  # warm-up: connections, first-call costs
        before = cpu_seconds(config.pid, tree=True) if config.pid else 0.0

        async def stream() -> None:
            for _ in range(requests):
                await one_request(session, config, prompt, out)

        await asyncio.gather(*(stream() for _ in range(streams)))
        out.cpu_s = (cpu_seconds(config.pid, tree=True) if config.pid else 0.0) - before
    return out


def configs(cluster: Cluster, doors: list[str], litellm: bool) -> list[Config]:
    fake = cluster.procs["fake"]
    proxy = cluster.procs["llm-proxy"]
    out = [Config("fake", "chat", fake.url, {}, MODEL)]
    auth = {"X-Internal-Auth": cluster.key}
    out += [Config("proxy", door, proxy.url, auth, f"openai/{MODEL}", proxy.pid) for door in doors]
    if litellm and "litellm" in cluster.procs:
        lite = cluster.procs["litellm"]
        headers = {"Authorization": f"Bearer {cluster.litellm_key}"}
        out += [Config("litellm", door, lite.url, headers, MODEL, lite.pid) for door in doors]
    return out


def start(cluster: Cluster, args: argparse.Namespace) -> None:
    cluster.start_fake("--tokens", str(args.tokens), "--interval-ms", str(args.interval_ms))
    fake = cluster.procs["fake"]
    cluster._service(
        "llm-proxy",
        "llm_proxy",
        "LLM_PROXY__",
        {"LLM_PROXY__OPENAI_BASE_URL": f"{fake.url}/v1", "LLM_PROXY__OPENAI_API_KEY": "sk-fake-benchmark-key"},
    )
    if not cluster.wait_healthy("llm-proxy", "/health", 60):
        raise RuntimeError("the llm-proxy did not start")
    # custom_openai: LiteLLM turns its Messages and Responses endpoints into chat completions on the fake, as we do.
    if not args.no_litellm and cluster.start_litellm(MODEL, "custom_openai") is not None:
        cluster.wait_healthy("litellm", "/health/liveliness", 120)


def report(results: dict[str, Any]) -> None:
    print(f"\n{results['machine']}; {results['command']}")
    for streams, rows in results["runs"].items():
        print(f"\n== {streams} stream(s): medians over rounds of each round's p50 (p99 in brackets) ==")
        print(f"{'config':20} {'TTFT ms':>16} {'added TTFT ms':>16} {'transit ms':>16} {'CPU µs/token':>13} errors")
        base = rows.get("fake:chat", {})
        for label, row in rows.items():
            added = row["ttft_p50"] - base.get("ttft_p50", math.nan) if label != "fake:chat" else math.nan
            added99 = row["ttft_p99"] - base.get("ttft_p99", math.nan) if label != "fake:chat" else math.nan
            print(
                f"{label:20} {row['ttft_p50']:7.2f} ({row['ttft_p99']:6.2f}) {added:7.2f} ({added99:6.2f}) "
                f"{row['transit_p50']:7.2f} ({row['transit_p99']:6.2f}) {row['cpu_us_per_token']:13.1f} "
                f"{row['errors'] or ''}"
            )
        for door in results["doors"]:
            ours, theirs = rows.get(f"proxy:{door}"), rows.get(f"litellm:{door}")
            if ours and theirs and not theirs["errors"] and theirs["cpu_us_per_token"]:
                ratio = ours["cpu_us_per_token"] / theirs["cpu_us_per_token"]
                print(f"  {door}: llm-proxy / LiteLLM CPU per token = {ratio:.3f} (target <= 0.2)")
        chat = rows.get("proxy:chat")
        for door in results["doors"]:
            row = rows.get(f"proxy:{door}")
            if chat and row and door != "chat":
                extra = row["cpu_us_per_token"] - chat["cpu_us_per_token"]
                later = row["ttft_p50"] - chat["ttft_p50"]
                print(f"  proxy {door} vs chat: {extra:+.1f} µs CPU per token, {later:+.2f} ms TTFT p50")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    cluster = Cluster()
    doors = args.doors.split(",")
    prompt = f"[fake tokens={args.tokens} interval_ms={args.interval_ms} ttft_ms={args.ttft_ms}] go"
    results: dict[str, Any] = {
        "machine": machine(),
        "command": " ".join(["scripts/bench/doors.py", *args.argv]),
        "doors": doors,
        "runs": {},
    }
    try:
        start(cluster, args)
        for streams in [int(s) for s in args.streams.split(",")]:
            raw: dict[str, list[Measured]] = {}
            for _ in range(args.rounds):
                for config in configs(cluster, doors, not args.no_litellm):
                    raw.setdefault(config.label, []).append(await measure(config, streams, args.requests, prompt))
            rows = {}
            for label, rounds in raw.items():
                tokens = sum(m.tokens for m in rounds)
                rows[label] = {
                    "ttft_p50": median(summarize(m.ttft_ms)["p50"] for m in rounds),
                    "ttft_p99": median(summarize(m.ttft_ms)["p99"] for m in rounds),
                    "transit_p50": median(summarize(m.transit_ms)["p50"] for m in rounds),
                    "transit_p99": median(summarize(m.transit_ms)["p99"] for m in rounds),
                    "tokens": tokens,
                    "cpu_us_per_token": sum(m.cpu_s for m in rounds) / tokens * 1e6 if tokens else math.nan,
                    "errors": sorted({e for m in rounds for e in m.errors})[:3],
                }
            results["runs"][str(streams)] = rows
    finally:
        cluster.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20, help="sequential requests per stream and round")
    parser.add_argument("--streams", default="1,32", help="concurrent streams, comma-separated runs")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    parser.add_argument("--doors", default="chat,messages,responses")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    results = run(main_async(args))
    report(results)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
