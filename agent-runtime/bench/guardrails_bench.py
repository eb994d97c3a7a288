"""Guardrails benchmark: what the tool policy costs per tool call (it runs on every tool round), over the calls of
the guardrails corpus (tests/guardrails/corpus.yaml). Prints a Markdown table of µs per call.

    cd agent-runtime && ../.venv/bin/python bench/guardrails_bench.py [--rounds 200]

Per call: ``validate_tool_call`` + ``check_permission`` + ``ApprovalPolicy.decide`` (with a few configured rules),
exactly what the dispatcher runs for a model's tool call. CPU time of the process (``process_time``), so other
work on a shared machine does not inflate it. Groups: simple commands (one command, no hazard), compound
or hazardous command lines, destructive lines (the deny path, nested reads included), and the other tools.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from agent_runtime.agents.catalogue import builtin_agents
from agent_runtime.agents.tools import validate_tool_call
from agent_runtime.guardrails.approval_policy import policy_from_settings
from agent_runtime.guardrails.permissions import check_permission
from agent_runtime.guardrails.shell import read_command_line

CORPUS = Path(__file__).parent.parent / "tests" / "guardrails" / "corpus.yaml"
POLICY = policy_from_settings(
    rules={
        "allow": ["Bash(npm test:*)", "Write(docs/**/*.md)"],
        "ask": ["Read(config/**)"],
        "deny": ["Bash(git push:*)"],
    }
)
CODER = builtin_agents(multi_agent_mode=True)["coder"]


def one_call(case: dict[str, Any]) -> None:
    call = validate_tool_call(case["tool"], dict(case["arguments"]))
    check_permission(CODER, call.name, call.arguments)
    POLICY.decide(CODER.id, call.name, call.arguments)


def group(case: dict[str, Any], section: str) -> str:
    if case["tool"] != "execute_command":
        return "other tools (paths, patterns, secrets)"
    if section == "destructive":
        return "destructive command lines (deny path)"
    reading = read_command_line(case["arguments"]["command"])
    simple = len(reading.commands) == 1 and not reading.hazards
    return "simple commands" if simple else "compound or hazardous command lines"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    corpus = yaml.safe_load(CORPUS.read_text("utf-8"))
    timings: dict[str, list[float]] = {}
    for section in ("escapes", "destructive", "benign"):
        for case in corpus[section]:
            one_call(case)  # warm caches the way a running server has them
            start = time.process_time_ns()
            for _ in range(rounds):
                one_call(case)
            per_call = (time.process_time_ns() - start) / rounds / 1000
            timings.setdefault(group(case, section), []).append(per_call)
            timings.setdefault("all calls", []).append(per_call)
    print(f"guardrails policy CPU cost per tool call ({rounds} rounds per call, process CPU µs)\n")
    print("| calls | n | median µs | p95 µs | max µs |")
    print("|---|---|---|---|---|")
    for name, values in sorted(timings.items(), key=lambda item: item[0] != "all calls"):
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        print(f"| {name} | {len(values)} | {statistics.median(values):.1f} | {p95:.1f} | {ordered[-1]:.1f} |")


if __name__ == "__main__":
    main()
