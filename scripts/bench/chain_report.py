"""The chain benchmark's printed tables: per configuration, per hop, CPU per 1k tokens, targets met or missed."""

from __future__ import annotations

import argparse
import math
from typing import Any

from stats import median

HOP_SERVICES = {
    "A": ("fake",),
    "R": ("relay",),
    "F": ("floor1", "floor2", "floor3"),
    "B": ("llm-proxy",),
    "C": ("llm-proxy", "agent-runtime"),
    "D": ("llm-proxy", "agent-runtime", "gateway"),
    "P": ("llm-proxy", "agent-runtime", "gateway"),
    "L": ("litellm",),
}
NAMES = {
    "A": "A fake direct",
    "R": "R raw relay",
    "F": "F 3 bare hops",
    "B": "B llm-proxy",
    "C": "C runtime",
    "D": "D gateway ws",
    "P": "P gateway acp",
    "L": "L LiteLLM",
}


def _f(value: float, width: int = 8, digits: int = 3) -> str:
    return "n/a".rjust(width) if value is None or math.isnan(value) else f"{value:{width}.{digits}f}"


def _med(rounds: list[dict[str, Any]], metric: str, stat: str) -> float:
    return median(r[metric][stat] for r in rounds)


def _diff(high: float | None, low: float | None) -> float:
    return math.nan if high is None or low is None else high - low


def _added(rounds: dict[str, list[dict[str, Any]]], high: str, low: str, metric: str, stat: str) -> float:
    """Median over rounds of the per-round difference (paired by round, so drift cancels)."""
    pairs = zip(rounds.get(high, []), rounds.get(low, []), strict=False)
    return median(_diff(h[metric][stat], lo[metric][stat]) for h, lo in pairs)


def cpu_per_1k(rounds: list[dict[str, Any]], services: tuple[str, ...]) -> float:
    """Milliseconds of CPU the ``services`` spent per 1,000 tokens delivered, over every round."""
    # warm-up requests are left out of the latency figures but not out of the CPU the services spent
    frames = sum(r.get("all_content_frames", r["content_frames"]) for r in rounds)
    spent = sum(r["cpu_s"].get(s, math.nan) for r in rounds for s in services)
    return math.nan if not frames else spent / frames * 1e6


def _config_rows(rounds: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = [
        f"{'config':<15}{'TTFT p50':>10}{'TTFT p99':>10}{'tok p50':>10}{'tok p99':>10}{'gap p99':>10}"
        f"{'failed':>7}{'tokens':>8}{'CPU/1k':>9}"
    ]
    for config, data in rounds.items():
        lines.append(
            f"{NAMES[config]:<15}{_f(_med(data, 'ttft_ms', 'p50'), 10)}{_f(_med(data, 'ttft_ms', 'p99'), 10)}"
            f"{_f(_med(data, 'transit_ms', 'p50'), 10)}{_f(_med(data, 'transit_ms', 'p99'), 10)}"
            f"{_f(_med(data, 'gap_ms', 'p99'), 10)}{sum(r['failed_requests'] for r in data):7d}"
            f"{sum(r['content_frames'] for r in data):8d}{_f(cpu_per_1k(data, HOP_SERVICES[config]), 9, 1)}"
        )
    return lines


def _hop_rows(rounds: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = [f"{'added (ms)':<15}{'TTFT p50':>10}{'TTFT p99':>10}{'tok p50':>10}{'tok p99':>10}"]
    for label, high, low in (
        ("R-A raw hop", "R", "A"),
        ("F-A 3 bare hops", "F", "A"),
        ("B-A proxy", "B", "A"),
        ("C-B runtime", "C", "B"),
        ("D-C gateway", "D", "C"),
        ("D-A chain", "D", "A"),
        ("P-D acp vs v2", "P", "D"),
        ("L-A LiteLLM", "L", "A"),
    ):
        if high in rounds and low in rounds:
            row = [_added(rounds, high, low, m, s) for m in ("ttft_ms", "transit_ms") for s in ("p50", "p99")]
            lines.append(f"{label:<15}" + "".join(_f(v, 10) for v in row))
    return lines


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _floor(rounds: dict[str, list[dict[str, Any]]], metric: str) -> str:
    """What the three bare hops alone add (``metric`` p99, F − A) or cost (``"cpu"``), to follow a target line."""
    if "F" not in rounds:
        return ""
    if metric == "cpu":
        return f"; three bare hops alone (F): {_f(cpu_per_1k(rounds['F'], HOP_SERVICES['F']), 0, 1)} ms"
    return f"; three bare hops alone (F−A): {_f(_added(rounds, 'F', 'A', metric, 'p99'), 0)} ms"


def latency_lines(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    rounds: dict[str, list[dict[str, Any]]] = result["rounds"]
    streams = result["streams"]
    if result.get("steady"):
        mode = f"steady state: starts spread over one reply, first of {result['requests']} requests per stream left out"
    elif streams > 1:
        mode = "all streams opened at once (thundering herd)"
    else:
        mode = f"{result['requests']} sequential requests"
    lines = [
        "",
        f"== {streams} concurrent stream(s), {mode}; {args.rounds} interleaved rounds; "
        f"{args.tokens} tokens, {args.interval_ms:g} ms apart, fake TTFT {args.ttft_ms:g} ms",
        "   ms; medians over rounds of each round's p50/p99; tok = per-token transit (arrival − fake emit);",
        "   CPU/1k = ms of CPU of the hop's own services per 1,000 tokens received",
        *_config_rows(rounds),
        *_hop_rows(rounds),
    ]
    if "D" in rounds and "A" in rounds:
        ttft = _added(rounds, "D", "A", "ttft_ms", "p99")
        tok = _added(rounds, "D", "A", "transit_ms", "p99")
        limit = 3.0 if streams == 1 else 15.0
        lines.append(
            f"target added TTFT p99 ≤ {limit:g} ms: {_f(ttft, 0)} ms → {_mark(ttft <= limit)}"
            + _floor(rounds, "ttft_ms")
        )
        if streams == 1:
            lines.append(
                f"target added per-token p99 ≤ 0.3 ms: {_f(tok, 0)} ms → {_mark(tok <= 0.3)}"
                + _floor(rounds, "transit_ms")
            )
    if "D" in rounds:
        chain = cpu_per_1k(rounds["D"], HOP_SERVICES["D"])
        parts = ", ".join(f"{s} {_f(cpu_per_1k(rounds['D'], (s,)), 0, 1)}" for s in HOP_SERVICES["D"])
        lines.append(f"CPU per 1k tokens, whole chain (D): {_f(chain, 0, 1)} ms ({parts})")
        if streams > 1:
            lines.append(
                f"target ≤ 150 ms CPU per 1k tokens: {_f(chain, 0, 1)} ms → {_mark(chain <= 150)}"
                + _floor(rounds, "cpu")
            )
    if "P" in rounds and "D" in rounds:
        v2, acp = cpu_per_1k(rounds["D"], ("gateway",)), cpu_per_1k(rounds["P"], ("gateway",))
        chain = cpu_per_1k(rounds["P"], HOP_SERVICES["P"])
        lines.append(
            f"gateway CPU per 1k tokens, ACP (P) vs v2 (D): {_f(acp, 0, 1)} vs {_f(v2, 0, 1)} ms"
            f" = {_f(acp / v2 if v2 else math.nan, 0, 2)}x; whole chain over ACP (P): {_f(chain, 0, 1)} ms"
        )
    if "A" in rounds:
        lines.append(f"fake LLM's own CPU per 1k tokens (A): {_f(cpu_per_1k(rounds['A'], ('fake',)), 0, 1)} ms")
    if "L" in rounds and "B" in rounds:
        proxy, lite = cpu_per_1k(rounds["B"], ("llm-proxy",)), cpu_per_1k(rounds["L"], ("litellm",))
        ratio = proxy / lite if lite else math.nan
        lines.append(
            f"llm-proxy vs LiteLLM CPU per 1k tokens: {_f(proxy, 0, 1)} vs {_f(lite, 0, 1)} ms = {_f(ratio, 0, 3)}"
            f" (target ≤ 0.2 → {_mark(ratio <= 0.2)})"
        )
    return lines


def capacity_lines(rungs: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    lines = [
        "",
        f"== capacity through the whole chain (WebSocket v2), {args.ramp_tokens} tokens {args.ramp_interval_ms:g} ms "
        f"apart; a rung passes with every frame, no gap > {10 * args.ramp_interval_ms:g} ms, errors < 0.1%",
        f"{'streams':>8}{'result':>8}{'failed':>8}{'missing':>9}{'TTFT p99':>10}{'gap max':>10}{'tok p99':>9}",
    ]
    for rung in rungs:
        lines.append(
            f"{rung['streams']:8d}{'pass' if rung['passed'] else 'FAIL':>8}{rung['failed_requests']:8d}"
            f"{rung['missing_frames']:9d}{_f(rung['ttft_ms']['p99'], 10)}{_f(rung['gap_ms']['max'], 10)}"
            f"{_f(rung['transit_ms']['p99'], 9)}"
        )
    held = max((r["streams"] for r in rungs if r["passed"]), default=0)
    lines.append(f"held: {held} concurrent active streams; target ≥ 500 → {_mark(held >= 500)}")
    return lines


def idle_lines(idle: dict[str, Any]) -> list[str]:
    per_kb = idle["bytes_per_session"] / 1024
    held = idle["open"] >= 5000 and idle.get("still_open", 0) >= 5000
    return [
        "",
        f"== idle IDE WebSockets: asked {idle['asked']}, opened {idle['open']}, failed {idle['failed']}, "
        f"still open at the end {idle.get('still_open', '?')}",
        f"gateway RSS {idle['rss_before'] / 2**20:.1f} → {idle['rss_after'] / 2**20:.1f} MiB = {per_kb:.1f} KiB per "
        f"session; target ≥ 5000 sessions at ≤ 40 KB → {_mark(held and per_kb * 1.024 <= 40)}",
    ]
