"""The IDE's two client generations, as far as the wire goes (shared/reference/ide-protocol.md §2-§3).

``render`` applies the client's rules to one received frame and fails the test where the real client would drop the
frame, render an empty bubble, or render a bubble per token. ``IdeClient`` sends frames the way the client does
(every key of its model, null when unused) and collects bubbles.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from websockets.asyncio.client import ClientConnection

Generation = Literal["A", "B"]

# The client's model: key → the JSON type it accepts (a wrong type makes it drop the whole frame).
_MODEL_A: dict[str, type | tuple[type, ...]] = {
    "type": str,
    "content": str,
    "role": str,
    "is_final": bool,
    "call_id": str,
    "tool_name": str,
    "arguments": dict,
    "requires_approval": bool,
    "result": dict,
    "error": str,
    "agent_type": str,
    "from_agent": str,
    "to_agent": str,
    "reason": str,
    "metadata": dict,
}
_MODEL_B = {
    **_MODEL_A,
    "session_id": str,
    "approval_request_id": str,
    "plan_id": str,
    "plan_summary": dict,
    "decision": str,
    "feedback": str,
}


@dataclass(frozen=True)
class Bubble:
    kind: str
    text: str
    frame: dict[str, Any]


def render(raw: str | bytes, generation: Generation, *, opened_new: bool = False) -> Bubble | None:
    """What the client shows for one frame; None for frames it consumes silently (``session_info`` on B)."""
    assert isinstance(raw, str), "the IDE only reads text frames"
    frame = orjson.loads(raw)
    assert isinstance(frame, dict), f"not an object: {raw!r}"
    model = _MODEL_B if generation == "B" else _MODEL_A
    for key, expected in model.items():
        value = frame.get(key)
        assert value is None or isinstance(value, expected), f"{key} has the wrong type in {frame} (frame dropped)"
    assert frame.get("is_final") is not False, f"a token frame would render one bubble per token: {frame}"
    kind = frame.get("type")
    assert isinstance(kind, str)
    assert kind not in ("done", "status"), f"the reference says never to send {kind} to the IDE: {frame}"
    if kind == "session_info":
        assert generation == "B", f"client A renders session_info as an empty bubble: {frame}"
        assert opened_new, f"session_info on a socket not opened as new_*: {frame}"
        assert isinstance(frame.get("session_id"), str)
        assert frame["session_id"]
        return None
    if kind == "tool_call":
        for key, expected in (("call_id", str), ("tool_name", str), ("arguments", dict), ("requires_approval", bool)):
            assert isinstance(frame.get(key), expected), f"tool_call needs {key}: {frame}"
        return Bubble(kind, frame["tool_name"], frame)
    if kind == "agent_switched":
        for key in ("from_agent", "to_agent", "reason"):
            assert isinstance(frame.get(key), str), f"agent_switched needs top-level {key}: {frame}"
        return Bubble(kind, f"{frame['from_agent']} → {frame['to_agent']}", frame)
    if kind == "error":
        text = frame.get("content") or frame.get("error")
        assert isinstance(text, str), f"error without text: {frame}"
        assert text, f"empty error bubble: {frame}"
        return Bubble(kind, text, frame)
    if kind == "plan_approval_required":
        assert generation == "B", "client A has no plan approval"
        summary = frame.get("plan_summary")
        assert isinstance(frame.get("approval_request_id"), str)
        assert isinstance(frame.get("plan_id"), str)
        assert isinstance(summary, dict), frame
        assert isinstance(summary.get("goal"), str)
        assert isinstance(summary.get("total_estimated_time"), str)
        assert type(summary.get("subtasks_count")) is int
        assert isinstance(summary.get("subtasks"), list)
        assert isinstance(frame.get("content"), str)
    content = frame.get("content")
    assert isinstance(content, str), f"would render an empty bubble: {frame}"
    assert content, f"would render an empty bubble: {frame}"
    return Bubble(kind, content, frame)


def client_frame(generation: Generation, **fields: Any) -> str:
    """A frame as the IDE sends it: every key of its model present, null where unused."""
    model = _MODEL_B if generation == "B" else _MODEL_A
    frame: dict[str, Any] = dict.fromkeys(model)
    frame.update(fields)
    return orjson.dumps(frame).decode()


class IdeClient:
    """A connected IDE panel: sends like the client, renders every frame with ``render``."""

    def __init__(self, ws: ClientConnection, generation: Generation, *, opened_new: bool = False) -> None:
        self.ws = ws
        self.generation: Generation = generation
        self.opened_new = opened_new
        self.bubbles: list[Bubble] = []
        self.session_id: str | None = None

    async def send(self, **fields: Any) -> None:
        await self.ws.send(client_frame(self.generation, **fields))

    async def next_bubble(self, timeout: float = 10.0) -> Bubble:
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            bubble = render(raw, self.generation, opened_new=self.opened_new)
            if bubble is None:
                self.session_id = orjson.loads(raw)["session_id"]
                continue
            self.bubbles.append(bubble)
            return bubble

    async def until(self, kind: str, timeout: float = 10.0) -> Bubble:
        """Read bubbles until one of ``kind`` arrives (the IDE has no end-of-turn frame)."""
        while True:
            bubble = await self.next_bubble(timeout)
            if bubble.kind == kind:
                return bubble
