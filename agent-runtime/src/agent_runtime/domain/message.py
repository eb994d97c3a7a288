"""Messages of a conversation and their OpenAI chat-completions form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

Role = Literal["user", "assistant", "system", "tool"]
ROLES: tuple[Role, ...] = ("user", "assistant", "system", "tool")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for; ``arguments`` is the decoded JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]

    def to_openai(self) -> dict[str, Any]:
        arguments = orjson.dumps(self.arguments).decode()
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": arguments}}

    @classmethod
    def from_openai(cls, raw: dict[str, Any]) -> ToolCall:
        function = raw.get("function") or {}
        arguments = function.get("arguments") or "{}"
        if isinstance(arguments, str):
            try:
                arguments = orjson.loads(arguments)
            except orjson.JSONDecodeError:
                arguments = {"_raw": arguments}
        return cls(id=str(raw["id"]), name=str(function.get("name", "")), arguments=dict(arguments))


@dataclass(frozen=True, slots=True)
class Message:
    """One message; immutable once appended (messages are never rewritten)."""

    role: Role
    content: str | None
    created_at: datetime
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = field(default=())
    agent: str | None = None
    _openai: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id it answers")

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI form, built once per message (every model call sends the whole history): the dict is shared,
        callers must not change it."""
        if self._openai is not None:
            return self._openai
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name:
            out["name"] = self.name
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        if self.tool_calls:
            out["tool_calls"] = [call.to_openai() for call in self.tool_calls]
        object.__setattr__(self, "_openai", out)
        return out

    @classmethod
    def from_openai(cls, raw: dict[str, Any], created_at: datetime, agent: str | None = None) -> Message:
        calls = tuple(ToolCall.from_openai(c) for c in raw.get("tool_calls") or ())
        return cls(
            role=raw["role"],
            content=raw.get("content"),
            created_at=created_at,
            name=raw.get("name"),
            tool_call_id=raw.get("tool_call_id"),
            tool_calls=calls,
            agent=agent,
        )
