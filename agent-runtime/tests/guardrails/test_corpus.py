"""The guardrails corpus (corpus.yaml): escapes never run without approval, destructive calls are always refused,
benign read-only calls mostly run without asking, and an edited call goes through the whole policy. The summary
test prints the figures (run with -s to see them, or read them in the assertion message on failure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_runtime.agents.catalogue import builtin_agents
from agent_runtime.guardrails.approval_policy import Allow, ApprovalPolicy, Deny, PolicyDecision
from agent_runtime.guardrails.permissions import Refused, check_permission

from ..runs.harness import Harness, shape, user

CORPUS: dict[str, list[dict[str, Any]]] = yaml.safe_load((Path(__file__).parent / "corpus.yaml").read_text("utf-8"))
POLICY = ApprovalPolicy()
CODER = builtin_agents(multi_agent_mode=True)["coder"]


def judge(case: dict[str, Any]) -> PolicyDecision | Refused:
    """What the server does with the call: refused by permissions, else the approval policy's decision."""
    permission = check_permission(CODER, case["tool"], case["arguments"])
    if isinstance(permission, Refused):
        return permission
    return POLICY.decide(CODER.id, case["tool"], case["arguments"])


def label(case: dict[str, Any]) -> str:
    return f"{case['tool']}:{case['arguments']}"


@pytest.mark.parametrize("case", CORPUS["escapes"] + CORPUS["destructive"], ids=label)
def test_no_escape_runs_without_approval(case: dict[str, Any]) -> None:
    assert not isinstance(judge(case), Allow)


@pytest.mark.parametrize("case", CORPUS["destructive"], ids=label)
def test_every_destructive_call_is_refused(case: dict[str, Any]) -> None:
    assert isinstance(judge(case), Deny | Refused)


def test_corpus_figures() -> None:
    escapes = CORPUS["escapes"] + CORPUS["destructive"]
    auto_run = [label(case) for case in escapes if isinstance(judge(case), Allow)]
    not_refused = [label(case) for case in CORPUS["destructive"] if not isinstance(judge(case), Deny | Refused)]
    benign = CORPUS["benign"]
    benign_asked = [label(case) for case in benign if not isinstance(judge(case), Allow)]
    rate = 100 * (len(benign) - len(benign_asked)) / len(benign)
    figures = (
        f"guardrails corpus: {len(escapes)} escape attempts ({len(CORPUS['destructive'])} destructive), "
        f"{len(benign)} benign calls\n"
        f"  escapes auto-run:         {len(auto_run)} {auto_run}\n"
        f"  destructive not refused:  {len(not_refused)} {not_refused}\n"
        f"  benign run automatically: {rate:.1f} % (asked: {benign_asked})"
    )
    print("\n" + figures)
    assert len(escapes) >= 150, figures
    assert len(benign) >= 50, figures
    assert auto_run == [], figures
    assert not_refused == [], figures
    assert rate >= 90, figures


COMMAND = '[[tool:execute_command {"command": "npm test"}]]'


@pytest.mark.parametrize("case", CORPUS["edits"], ids=lambda case: str(case["edited"]))
async def test_an_edited_call_goes_through_the_whole_policy(case: dict[str, Any]) -> None:
    harness = Harness(multi_agent=False)
    first = await harness.send(user(COMMAND))
    call_id = first[0]["call_id"]
    frame = {"type": "hitl_decision", "call_id": call_id, "decision": "edit", "modified_arguments": case["edited"]}

    chunks = await harness.send(frame)

    expected = {
        "refused": ("tool_refused",),
        "asks": ("tool_call", "execute_command", True),
        "runs": ("tool_call", "execute_command", False),
    }[case["expect"]]
    assert shape(chunks)[0] == expected
    if case["expect"] == "refused":
        assert ("tool_call", "execute_command", False) not in shape(chunks)
        assert harness.uows.store.tool_calls[("s1", call_id)].arguments == {"command": "npm test"}
