"""Commands: what a caller asks the runtime to change. One async handler each (``handlers.py``).

``subject`` is the caller's identity (``X-Subject``); ``None`` means no owner checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent_runtime.domain.approval import Decision
from agent_runtime.domain.client_tools import ClientTools
from agent_runtime.domain.message import Message
from agent_runtime.domain.plan import Subtask, SubtaskStatus
from agent_runtime.domain.run import StopReason


@dataclass(frozen=True, kw_only=True)
class Command:
    """A change to one session (``session_id``), asked by ``subject``."""

    session_id: str
    subject: str | None = None


@dataclass(frozen=True, kw_only=True)
class CreateSession(Command):
    title: str | None = None
    announce: bool = False  # log a ``session_info`` chunk as the session's first event


@dataclass(frozen=True, kw_only=True)
class RenameSession(Command):
    title: str


@dataclass(frozen=True, kw_only=True)
class DeleteSession(Command):
    reason: str = "requested"


@dataclass(frozen=True, kw_only=True)
class AppendMessage(Command):
    """Append one message (user, assistant or tool) to the session's history. ``shown``: an assistant message the
    user sees as it stands, also logged as the final ``assistant_message`` chunk."""

    message: Message
    shown: bool = False


@dataclass(frozen=True, kw_only=True)
class StartRun(Command):
    """Start a run of the session's current agent."""


@dataclass(frozen=True, kw_only=True)
class FinishRun(Command):
    """End the work on the session at ``reason``: the run ``run_id`` stops (when it still runs; None: no run was
    started), ``error`` (with ``code``) is logged, the run's model usage is recorded (``model`` None: it called no
    model) and ``done`` is logged; the answer to ``client_message_id`` ends there. Returns the seq of ``done``."""

    run_id: str | None
    reason: StopReason
    error: str | None = None
    code: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_ms: int = 0
    model_finish: str | None = None  # the finish_reason of the run's last model call
    client_message_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class RefuseFrame(Command):
    """A frame the session cannot act on (an unknown call id, no plan to decide, an edit that is refused): its
    ``error`` is logged, so followers and a client resuming later see why; nothing else changes."""

    message: str
    code: str


@dataclass(frozen=True, kw_only=True)
class QueueMessage(Command):
    """Store a user message in the session's durable inbox while another replica's turn holds the session
    (``frame``: the message and its request's origin, as JSON); returns the entry's id (409 when the same
    ``client_message_id`` is queued already)."""

    client_message_id: str
    frame: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ConsumeQueuedMessage(Command):
    """The user message about to be appended was queued in the session's inbox as ``entry_id`` (several replicas):
    delete that entry in the same transaction, so exactly one replica runs it (409 when another already did)."""

    entry_id: int


@dataclass(frozen=True, kw_only=True)
class RegisterClientMessage(Command):
    """The user message about to be appended answers ``client_message_id``: remember the id with the digest of
    ``content``; its answer is what the event log holds after the session's current seq (a repeat replays it)."""

    client_message_id: str
    content: str


@dataclass(frozen=True, kw_only=True)
class IssueToolCall(Command):
    call_id: str
    tool_name: str
    arguments: dict[str, Any]
    requires_approval: bool = False
    run_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class RefuseToolCall(Command):
    """A call the server's policy refused: it is never issued; the person sees why (a ``tool_refused`` chunk)."""

    call_id: str
    tool_name: str
    arguments: dict[str, Any]
    reason: str
    rule: str


@dataclass(frozen=True, kw_only=True)
class RecordToolResult(Command):
    """The IDE's result for a call. For an approval-gated call it is also the decision (the IDE answers a gate
    with a result or a rejection error, never with ``hitl_decision``)."""

    call_id: str
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class DecideApproval(Command):
    call_id: str
    decision: Decision
    modified_arguments: dict[str, Any] | None = None
    feedback: str | None = None


@dataclass(frozen=True, kw_only=True)
class EditToolCall(Command):
    """The user's edit of a gated call: its approval ends as edited with ``arguments``, the call carries them and
    goes out again (a ``tool_call`` chunk), gated by a new approval when ``ask_again`` names why."""

    call_id: str
    arguments: dict[str, Any]
    ask_again: str | None = None


@dataclass(frozen=True, kw_only=True)
class AbandonToolCall(Command):
    """Give up an open call (the user moved on): its pending approval is rejected with ``reason``, the plan it
    proposes is cancelled, and the call, when outstanding, ends with ``reason`` as its error."""

    call_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ExpireApproval(Command):
    """Nobody decided ``approval_id`` in time: it ends as expired, its outstanding call ends with an error and the
    plan it proposes is cancelled."""

    approval_id: str


@dataclass(frozen=True, kw_only=True)
class ProposePlan(Command):
    """The model's ``create_plan`` call ``call_id``: a draft plan and the approval it waits on, announced by a
    ``plan_approval_required`` chunk (``summary`` and ``content`` are what the IDE shows)."""

    call_id: str
    goal: str
    subtasks: tuple[Subtask, ...]
    arguments: dict[str, Any]
    summary: dict[str, Any]
    content: str


@dataclass(frozen=True, kw_only=True)
class DecidePlan(Command):
    """The user's decision on a plan's approval ``approval_id``: approved, the plan starts (in progress); otherwise it
    is rejected and the plan cancelled (``revise``: the user asked for a revised plan instead). Logs the
    ``plan_progress`` that says so."""

    approval_id: str
    approve: bool
    feedback: str | None = None
    revise: bool = False


@dataclass(frozen=True, kw_only=True)
class MoveSubtask(Command):
    """A subtask of a running plan starts or ends; a start or a completion (and the plan's) is logged as
    ``plan_progress``."""

    plan_id: str
    subtask_id: str
    status: SubtaskStatus


@dataclass(frozen=True, kw_only=True)
class CancelPlan(Command):
    """Cancel the plan ``plan_id`` while it is open (draft, approved or in progress); a closed one stays as it is."""

    plan_id: str


@dataclass(frozen=True, kw_only=True)
class SwitchAgent(Command):
    to_agent: str
    reason: str
    confidence: float | None = None


@dataclass(frozen=True, kw_only=True)
class RememberRule(Command):
    """The session's client answered "always": remember ``rule`` (guardrails rule syntax) as always allowed, or,
    ``allow=False``, always rejected. Returns whether it is new."""

    rule: str
    allow: bool = True


@dataclass(frozen=True, kw_only=True)
class DeclareClientTools(Command):
    """The tools the session's client executes (the latest declaration wins)."""

    client_tools: ClientTools


@dataclass(frozen=True, kw_only=True)
class AdoptAgent(Command):
    """Single-agent mode: its only agent takes over a session stored with another (no switch is announced)."""

    agent: str
