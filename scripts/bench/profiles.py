"""Sampling profiles of running services with py-spy (optional: ``.venv/bin/pip install py-spy``).

``record`` starts one ``py-spy record --format raw --gil`` per process (only the thread holding the GIL is sampled,
so threads waiting on a lock or on epoll do not show up as busy); ``finish`` stops them (SIGINT makes py-spy write
its file) and ``top`` folds the collapsed stacks into the functions and files that hold the CPU samples.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

from cluster import ROOT

_OWN = re.compile(r"\((llm_proxy|agent_runtime|gateway|service_kit)/")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]*)(?::\d+)?\)$")


def py_spy() -> str | None:
    local = ROOT / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def record(pids: dict[str, int], out_dir: Path, rate: int = 200) -> dict[str, subprocess.Popen[bytes]]:
    """Start sampling each named pid into ``out_dir/<name>.txt``; empty when py-spy is not installed."""
    binary = py_spy()
    if binary is None:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    recorders = {}
    for name, pid in pids.items():
        argv = [binary, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate), "--nonblocking", "--gil"]
        argv += ["-o", str(out_dir / f"{name}.txt")]
        recorders[name] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return recorders


def finish(recorders: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in recorders.values():
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
    for process in recorders.values():
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _short(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip(), "?"
    # py-spy already shortens paths to "<package>/<module>.py"
    path = match.group("file")
    return f"{match.group('func')} ({path})", path.split("/", 1)[0]


def top(path: Path, count: int = 12) -> list[str]:
    """The leaf functions and the top-level packages holding the most samples, as printable lines."""
    leaves: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        weight = int(samples)
        total += weight
        leaf, package = _short(stack.split(";")[-1])
        leaves[leaf] += weight
        packages[package] += weight
        for frame in {f for f in stack.split(";") if _OWN.search(f) and "__main__" not in f}:
            inclusive[_short(frame)[0]] += weight
    if not total:
        return [f"  (no samples in {path.name})"]
    lines = [f"  {path.stem}: {total} samples; by package of the leaf frame:"]
    lines += [f"    {share / total:6.1%}  {name}" for name, share in packages.most_common(8)]
    lines.append("   top leaf functions:")
    lines += [f"    {share / total:6.1%}  {name}" for name, share in leaves.most_common(count)]
    lines.append("   project functions, inclusive:")
    lines += [f"    {share / total:6.1%}  {name}" for name, share in inclusive.most_common(count)]
    return lines
