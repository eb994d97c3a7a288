"""Token usage per ``X-Session-Id``, so the runtime can account per session (no per-session Prometheus label)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass(slots=True)
class SessionTotals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    by_model: dict[str, list[int]] = field(default_factory=dict)

    def view(self, session_id: str) -> dict[str, object]:
        return {
            "session_id": session_id,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "by_model": {
                model: {"requests": r, "prompt_tokens": p, "completion_tokens": c}
                for model, (r, p, c) in self.by_model.items()
            },
        }


class SessionUsage:
    """The last ``limit`` sessions' totals (least recently used are dropped first)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._sessions: OrderedDict[str, SessionTotals] = OrderedDict()

    def add(
        self, session_id: str, model: str, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
    ) -> None:
        """Count one request; ``prompt_tokens`` include the ``cached_tokens`` read from the provider's cache."""
        if self._limit == 0:
            return
        totals = self._sessions.pop(session_id, None) or SessionTotals()
        self._sessions[session_id] = totals
        if len(self._sessions) > self._limit:
            self._sessions.popitem(last=False)
        totals.requests += 1
        totals.prompt_tokens += prompt_tokens
        totals.completion_tokens += completion_tokens
        totals.cached_tokens += cached_tokens
        per_model = totals.by_model.setdefault(model, [0, 0, 0])
        per_model[0] += 1
        per_model[1] += prompt_tokens
        per_model[2] += completion_tokens

    def get(self, session_id: str) -> SessionTotals | None:
        return self._sessions.get(session_id)
