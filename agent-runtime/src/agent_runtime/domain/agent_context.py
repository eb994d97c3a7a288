"""Which agent a session talks to, and the history of switches between agents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from agent_runtime.domain.errors import Conflict, RuleViolation
from agent_runtime.domain.events import AgentSwitched, EventSource

MAX_SWITCHES = 50


@dataclass(frozen=True, slots=True)
class AgentSwitch:
    from_agent: str
    to_agent: str
    reason: str
    confidence: float | None
    switched_at: datetime


@dataclass(kw_only=True)
class AgentContext(EventSource):
    """The session's current agent. Switching to the current agent is refused, and a session gets at most
    ``MAX_SWITCHES`` switches (a loop guard against agents handing the turn back and forth)."""

    session_id: str
    current_agent: str
    switches: list[AgentSwitch] = field(default_factory=list)

    def switch(self, to_agent: str, *, reason: str, now: datetime, confidence: float | None = None) -> AgentSwitch:
        if to_agent == self.current_agent:
            raise Conflict(f"the session already talks to {to_agent}", code="same_agent")
        if len(self.switches) >= MAX_SWITCHES:
            raise RuleViolation(f"at most {MAX_SWITCHES} agent switches per session", code="too_many_switches")
        if confidence is not None and not 0.0 <= confidence <= 1.0:
            raise RuleViolation("confidence must lie between 0 and 1", code="invalid_confidence")
        switch = AgentSwitch(self.current_agent, to_agent, reason, confidence, now)
        self.switches.append(switch)
        self.current_agent = to_agent
        self.record(
            AgentSwitched(
                session_id=self.session_id,
                occurred_at=now,
                from_agent=switch.from_agent,
                to_agent=to_agent,
                reason=reason,
                confidence=confidence,
            )
        )
        return switch
