"""What every benchmark script shares: percentiles, token timestamps, /proc readings and the event loop choice."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import socket
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
_TOKEN = re.compile(r"t(\d+)@(\d+)")
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def run(main: Coroutine[Any, Any, T], uvloop: bool = True) -> T:
    """Run ``main`` on uvloop when installed (the services use it too), else on asyncio's default loop."""
    if uvloop:
        with contextlib.suppress(ImportError):
            import uvloop as _uvloop

            return _uvloop.run(main)
    return asyncio.run(main)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def summarize(values: Iterable[float]) -> dict[str, float]:
    """n, p50, p90, p95, p99, max and mean of ``values``."""
    data = sorted(values)
    if not data:
        return {
            "n": 0,
            "p50": math.nan,
            "p90": math.nan,
            "p95": math.nan,
            "p99": math.nan,
            "max": math.nan,
            "mean": math.nan,
        }
    return {
        "n": len(data),
        "p50": percentile(data, 50),
        "p90": percentile(data, 90),
        "p95": percentile(data, 95),
        "p99": percentile(data, 99),
        "max": data[-1],
        "mean": sum(data) / len(data),
    }


def median(values: Iterable[float | None]) -> float:
    """The median, skipping missing values (None, NaN: JSON turns NaN into null)."""
    data = [v for v in values if v is not None and not math.isnan(v)]
    return percentile(data, 50)


def parse_tokens(text: str) -> list[tuple[int, int]]:
    """Every ``(index, emit_ns)`` the fake LLM wrote into ``text`` (a token, or a whole message)."""
    return [(int(i), int(ns)) for i, ns in _TOKEN.findall(text)]


def free_port() -> int:
    """A loopback port free right now (the OS may hand it out again: bind soon)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (LiteLLM and uvicorn workers may fork)."""
    tree = _children()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, ()))
    return found


def cpu_seconds(pid: int, tree: bool = False) -> float:
    """utime + stime of ``pid`` (and, with ``tree``, its descendants) in seconds."""
    total = 0.0
    for one in process_tree(pid) if tree else [pid]:
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{one}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def rss_bytes(pid: int, tree: bool = False) -> int:
    """Resident set size of ``pid`` (and, with ``tree``, its descendants) in bytes."""
    total = 0
    for one in process_tree(pid) if tree else [pid]:
        with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{one}/statm") as handle:
            total += int(handle.read().split()[1]) * _PAGE
    return total


def fmt_ms(value: float) -> str:
    return "   n/a" if math.isnan(value) else f"{value:8.3f}"
