"""Inbound client frames: a discriminated union on ``type``, strict about the fields it knows.

Unknown keys and explicit nulls are accepted (the IDE sends every key of its model, null when unused); a wrong
JSON type is an error that names the field, never a coercion.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from service_kit.errors import validation_message

AgentType = str  # the runtime knows its agents; the gateway only insists on a string


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    def for_runtime(self) -> dict[str, Any]:
        """The frame as the runtime receives it: known keys only, nulls dropped."""
        return self.model_dump(exclude_none=True)


class UserMessage(_Frame):
    type: Literal["user_message"]
    content: Annotated[str, Field(min_length=1)]
    role: str | None = None
    agent_type: AgentType | None = None
    client_message_id: str | None = None


class ToolResult(_Frame):
    type: Literal["tool_result"]
    call_id: Annotated[str, Field(min_length=1)]
    tool_name: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    @model_validator(mode="after")
    def _one_outcome(self) -> ToolResult:
        if self.result is None and self.error is None:
            raise ValueError("a tool_result needs 'result' (object) or 'error' (string)")
        return self


class HitlDecision(_Frame):
    type: Literal["hitl_decision"]
    call_id: Annotated[str, Field(min_length=1)]
    decision: Literal["approve", "edit", "reject"]
    modified_arguments: dict[str, Any] | None = None
    feedback: str | None = None
    always: bool | None = None  # with approve/reject: the runtime allows/refuses this exact call for the session


class PlanDecision(_Frame):
    type: Literal["plan_decision"]
    approval_request_id: str  # client B copies "" when plan_approval_required lacked it
    plan_id: str
    decision: Literal["approve", "reject", "modify"]
    feedback: str | None = None


class SwitchAgent(_Frame):
    type: Literal["switch_agent"]
    agent_type: Annotated[str, Field(min_length=1)]
    content: str | None = None
    reason: str | None = None


class Cancel(_Frame):
    type: Literal["cancel"]


class Resume(_Frame):
    type: Literal["resume"]
    last_seq: Annotated[int, Field(ge=0)]


class Ping(_Frame):
    type: Literal["ping"]
    nonce: str | int | None = None


# The tools the legacy IDE runs (ide-protocol §4): what a socket client that declares nothing is said to run, so a
# session another client (an ACP editor without a terminal) used last gets the IDE's tools back (latest wins).
IDE_TOOLS = ("read_file", "write_file", "list_files", "search_in_code", "create_directory", "execute_command")


class Hello(_Frame):
    type: Literal["hello"]
    protocol: int = 2
    # The client-executed tools this client runs (contracts.md); absent: the IDE's six.
    client_tools: list[str] | None = None
    client_tools_options: dict[str, Any] | None = None


InboundFrame = Annotated[
    UserMessage | ToolResult | HitlDecision | PlanDecision | SwitchAgent | Cancel | Resume | Ping | Hello,
    Field(discriminator="type"),
]
KNOWN_TYPES = frozenset(
    [
        *("user_message", "tool_result", "hitl_decision", "plan_decision", "switch_agent"),
        *("cancel", "resume", "ping", "hello"),
    ]
)
_ADAPTER: TypeAdapter[InboundFrame] = TypeAdapter(InboundFrame)


class BadFrame(Exception):
    """An inbound frame the gateway cannot act on; ``message`` names the problem and is sent back to the client."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # the metrics label: the frame's type when known, else "invalid"


def parse_frame(text: str) -> InboundFrame:
    """Parse and validate one text frame, or raise ``BadFrame``."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadFrame(f"invalid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(raw, dict):
        raise BadFrame("a frame must be a JSON object")
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise BadFrame("a frame needs a string 'type'")
    if kind not in KNOWN_TYPES:
        raise BadFrame(f"unknown frame type {kind[:40]!r}; expected one of: {', '.join(sorted(KNOWN_TYPES))}")
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        message, _ = validation_message([dict(e) for e in exc.errors(include_url=False, include_input=False)])
        raise BadFrame(f"invalid {kind} frame: {_unprefixed(message, kind)}", kind) from None


def _unprefixed(message: str, kind: str) -> str:
    """pydantic names the union member first (``user_message.content``); the client only needs the field."""
    return message.replace(f"{kind}.", "")
