"""What happened in a conversation, for the caller of ``app.run`` and for the exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Frame = dict[str, Any]

FAILED_STOP_REASONS = frozenset({"error", "cancelled"})


@dataclass
class ToolRun:
    """One tool call the client answered: the decision taken and what was sent back."""

    call_id: str
    tool_name: str
    arguments: dict[str, Any]
    decision: str  # "auto" (no approval needed), "approve", "edit" or "reject"
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class Turn:
    """One exchange: the frame the user caused and everything the gateway answered until the turn ended."""

    frames: list[Frame] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    tool_runs: list[ToolRun] = field(default_factory=list)
    plan_decisions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop_reasons: list[str] = field(default_factory=list)  # one per ``done``, in order
    usage: dict[str, Any] | None = None
    fatal: bool = False  # the connection is gone or the gateway fell silent; the session cannot go on here

    @property
    def stop_reason(self) -> str | None:
        """The stop reason of the last ``done``."""
        return self.stop_reasons[-1] if self.stop_reasons else None

    @property
    def reply(self) -> str:
        """The assistant's final messages of this turn, in order."""
        return "\n\n".join(self.messages)

    @property
    def ok(self) -> bool:
        """No error frame arrived and no stream of the turn ended in error or cancellation."""
        return not self.errors and not FAILED_STOP_REASONS.intersection(self.stop_reasons)


@dataclass
class Transcript:
    """A whole conversation: the session it ran in and its turns."""

    session_id: str | None = None
    turns: list[Turn] = field(default_factory=list)
    reconnects: int = 0

    @property
    def reply(self) -> str:
        """The assistant's final messages of the last turn."""
        return self.turns[-1].reply if self.turns else ""

    @property
    def ok(self) -> bool:
        return bool(self.turns) and all(turn.ok for turn in self.turns)
