from datetime import UTC, datetime

import pytest

from agent_runtime.domain.agent_context import MAX_SWITCHES, AgentContext
from agent_runtime.domain.errors import Conflict, RuleViolation
from agent_runtime.domain.events import AgentSwitched

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_switch_records_reason_and_confidence() -> None:
    context = AgentContext(session_id="s", current_agent="orchestrator")
    switch = context.switch("coder", reason="code change", now=NOW, confidence=0.9)
    assert context.current_agent == "coder"
    assert (switch.from_agent, switch.to_agent, switch.reason, switch.confidence) == (
        "orchestrator",
        "coder",
        "code change",
        0.9,
    )
    event = context.pull_events()[0]
    assert isinstance(event, AgentSwitched)
    assert event.confidence == 0.9


def test_switching_to_the_current_agent_is_refused() -> None:
    context = AgentContext(session_id="s", current_agent="coder")
    with pytest.raises(Conflict):
        context.switch("coder", reason="again", now=NOW)


def test_a_session_gets_at_most_fifty_switches() -> None:
    context = AgentContext(session_id="s", current_agent="orchestrator")
    for index in range(MAX_SWITCHES):
        context.switch("coder" if index % 2 == 0 else "orchestrator", reason="ping-pong", now=NOW)
    with pytest.raises(RuleViolation):
        context.switch("ask" if context.current_agent != "ask" else "coder", reason="one more", now=NOW)
    assert len(context.switches) == MAX_SWITCHES


def test_confidence_outside_zero_to_one_is_refused() -> None:
    context = AgentContext(session_id="s", current_agent="orchestrator")
    with pytest.raises(RuleViolation):
        context.switch("coder", reason="x", now=NOW, confidence=1.5)
