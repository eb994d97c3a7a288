"""One assistant turn: stream the model's reply, relaying each text delta as it arrives.

Chunks are the flat runtime chunk shape (doc/protocol.md): ``assistant_message`` deltas (``token``,
``is_final: false``), one final ``assistant_message`` with the whole ``content``, then ``done`` with usage.
A model failure becomes one ``error`` chunk; the turn never raises into the transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

Chunk = dict[str, Any]


class LLMClient(Protocol):
    def stream_chat(self, *, model: str, messages: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]: ...


async def stream_turn(llm: LLMClient, *, model: str, session_id: str, content: str) -> AsyncIterator[Chunk]:
    parts: list[str] = []
    usage: dict[str, Any] | None = None
    try:
        async for chunk in llm.stream_chat(model=model, messages=[{"role": "user", "content": content}]):
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices", ()):
                token = choice.get("delta", {}).get("content")
                if token:
                    parts.append(token)
                    yield {"type": "assistant_message", "token": token, "is_final": False, "session_id": session_id}
    except Exception as exc:  # noqa: BLE001 - every failure of the model call ends the turn as an error chunk
        message = getattr(exc, "message", None) or f"model call failed: {type(exc).__name__}"
        yield {"type": "error", "content": message, "error": message, "session_id": session_id}
        return
    yield {"type": "assistant_message", "content": "".join(parts), "is_final": True, "session_id": session_id}
    yield {"type": "done", "session_id": session_id, "usage": usage}
