"""The three answers of the tool policy. ``rule`` names what decided, for the user and the audit trail (it does
not take part in equality: two answers with the same reason are the same answer)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Allow:
    """Run without asking."""

    rule: str = field(default="allow", compare=False)


@dataclass(frozen=True, slots=True)
class Ask:
    """Ask the user first; ``reason`` is shown with the approval request."""

    reason: str
    rule: str = field(default="ask", compare=False)


@dataclass(frozen=True, slots=True)
class Deny:
    """Never run; ``reason`` is told to the model as the failed result of its call and shown to the user in a
    ``tool_refused`` chunk; ``rule`` names the rule that refused it."""

    reason: str
    rule: str = field(default="deny", compare=False)


PolicyDecision = Allow | Ask | Deny

# The rule of an Ask whose only reason is that the tool (or every command) needs approval: an edit by the person
# approves such a call, any other Ask is asked again after an edit.
GATED = "gated"
