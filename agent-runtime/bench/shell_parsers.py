"""Shell parser comparison behind ADR 9: every command line of the guardrails corpus through tree-sitter's bash
grammar and, when it is importable, bashlex (not a dependency: install it in a scratch directory and put that on
PYTHONPATH). Prints lines that raise, lines with error nodes, and µs per parse (median, p95).

    cd agent-runtime && PYTHONPATH=/tmp/bashlex ../.venv/bin/python bench/shell_parsers.py
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tree_sitter
import tree_sitter_bash
import yaml

CORPUS = Path(__file__).parent.parent / "tests" / "guardrails" / "corpus.yaml"


def measure(name: str, parse: Callable[[str], Any], lines: list[str], rounds: int = 20) -> None:
    raised: list[str] = []
    micros: list[float] = []
    for line in lines:
        try:
            parse(line)
        except Exception:  # noqa: BLE001 - a parser that raises on a line is what is measured
            raised.append(line)
            continue
        start = time.process_time_ns()
        for _ in range(rounds):
            parse(line)
        micros.append((time.process_time_ns() - start) / rounds / 1000)
    ordered = sorted(micros)
    p95 = ordered[int(len(ordered) * 0.95)]
    print(
        f"{name}: {len(lines)} lines, {len(raised)} raise, median {statistics.median(micros):.1f} µs, p95 {p95:.1f} µs"
    )
    if raised:
        print(f"  raise on: {raised}")


def main() -> None:
    corpus = yaml.safe_load(CORPUS.read_text("utf-8"))
    sections = ("escapes", "destructive", "benign")
    lines = [c["arguments"]["command"] for s in sections for c in corpus[s] if c["tool"] == "execute_command"]
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))
    measure("tree-sitter-bash", lambda line: parser.parse(line.encode()), lines)
    print(f"  error nodes: {[line for line in lines if parser.parse(line.encode()).root_node.has_error]}")
    try:
        bashlex = importlib.import_module("bashlex")
    except ImportError:
        print("bashlex: not importable (see the module docstring)")
        return
    measure("bashlex", bashlex.parse, lines)


if __name__ == "__main__":
    main()
