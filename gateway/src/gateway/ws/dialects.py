"""The one place that turns the runtime's chunk stream into what each client generation renders.

v1 (default): what the existing IDE renders, one bubble per frame: no token deltas, no content-less frames.
v2 (opt-in): every chunk, token deltas included, each carrying the session's ``seq``.
"""

from __future__ import annotations

from typing import Any, Protocol

Frame = dict[str, Any]

_CONTENT_LESS_V1 = frozenset({"done", "status", "heartbeat", "turn_completed"})


class Dialect(Protocol):
    version: int

    def translate(self, chunk: Frame) -> Frame | None:
        """The frame to send for ``chunk``, or None when this dialect does not show it."""
        ...


class V1Dialect:
    version = 1

    def translate(self, chunk: Frame) -> Frame | None:
        kind = chunk.get("type")
        if kind in _CONTENT_LESS_V1:
            return None
        if kind == "assistant_message" and chunk.get("is_final") is False:
            return None
        frame = {k: v for k, v in chunk.items() if v is not None and k not in ("seq", "token")}
        if kind == "error" and "content" not in frame:
            frame["content"] = str(chunk.get("error") or "error")
        return frame


class V2Dialect:
    version = 2

    def translate(self, chunk: Frame) -> Frame | None:
        return {k: v for k, v in chunk.items() if v is not None}


def dialect_for(version: int) -> Dialect:
    return V2Dialect() if version == 2 else V1Dialect()
