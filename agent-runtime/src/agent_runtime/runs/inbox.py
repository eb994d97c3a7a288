"""A user message as an entry of its session's durable inbox (``InboxRepository``) and back: what a replica that
runs it later needs (the message, and the origin of the request that sent it)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from agent_runtime.application.command_bus import Origin
from agent_runtime.application.ports import InboxEntry
from agent_runtime.domain.client_tools import ClientTools
from agent_runtime.runs.frames import UserMessage, parse_frame


def queued(message: UserMessage, origin: Origin) -> dict[str, Any]:
    """The ``frame`` column of the entry for ``message`` (its client message id has a column of its own)."""
    tools = origin.client_tools
    return {
        "message": {"type": "user_message", "content": message.content, "agent_type": message.agent_type},
        "correlation_id": origin.correlation_id,
        "client_tools": None if tools is None else tools.to_json(),
    }


def unqueued(entry: InboxEntry) -> tuple[UserMessage, Origin]:
    """The message of ``entry`` (naming the entry it consumes) and its request's origin."""
    message = parse_frame(entry.frame["message"])
    assert isinstance(message, UserMessage)
    tools = entry.frame.get("client_tools")
    origin = Origin(
        subject=entry.subject,
        correlation_id=entry.frame.get("correlation_id"),
        client_tools=None if tools is None else ClientTools.from_json(tools),
    )
    return replace(message, client_message_id=entry.client_message_id, inbox_id=entry.id), origin
