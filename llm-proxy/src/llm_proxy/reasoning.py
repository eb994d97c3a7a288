"""Reasoning across doors and providers: OpenAI-style ``reasoning_effort`` and Anthropic-style thinking budgets
mapped onto each other (one table, so an effort that crosses a door comes back as the same effort), and reasoning
deltas folded back into the blocks a client sends on the next turn.
"""

from __future__ import annotations

from typing import Any

from llm_proxy.providers.base import ReasoningDelta, ReasoningSignature, RedactedReasoning
from llm_proxy.schemas import ChatCompletionRequest

# effort → Anthropic ``budget_tokens`` (1024 is Anthropic's minimum budget)
EFFORT_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
MIN_BUDGET = 1024


def effort_for_budget(budget: int) -> str:
    """The smallest effort whose budget covers ``budget``; ``high`` beyond."""
    for effort, tokens in EFFORT_BUDGETS.items():
        if budget <= tokens:
            return effort
    return "high"


def requested_effort(request: ChatCompletionRequest) -> str | None:
    """The effort the request asks for, in OpenAI's terms; ``None`` when it asks for no thinking."""
    if request.reasoning_effort:
        return None if request.reasoning_effort == "none" else request.reasoning_effort
    thinking = request.thinking
    if thinking is None or not thinking.on:
        return None
    if thinking.effort:
        return "high" if thinking.effort == "max" else thinking.effort
    return effort_for_budget(thinking.budget_tokens) if thinking.budget_tokens else "medium"


def requested_budget(request: ChatCompletionRequest) -> int | None:
    """The thinking budget the request asks for, in Anthropic's terms; ``None`` for no (or adaptive) thinking."""
    thinking = request.thinking
    if thinking is not None:
        return thinking.budget_tokens if thinking.type == "enabled" else None
    effort = requested_effort(request)
    return EFFORT_BUDGETS.get(effort, EFFORT_BUDGETS["medium"]) if effort else None


class ReasoningFold:
    """Reasoning deltas gathered into blocks, as a non-streamed answer shows them: thinking text up to the
    signature that closes it, redacted blocks whole. ``signed`` says whether there is anything to send back."""

    __slots__ = ("_blocks", "_open", "signed")

    def __init__(self) -> None:
        self._blocks: list[dict[str, Any]] = []
        self._open: list[str] | None = None
        self.signed = False

    def add(self, delta: ReasoningDelta | ReasoningSignature | RedactedReasoning) -> None:
        if type(delta) is ReasoningDelta:
            if self._open is None:
                self._open = []
                self._blocks.append({"type": "thinking", "thinking": self._open})
            self._open.append(delta.text)
        elif type(delta) is ReasoningSignature:
            if self._open is None:  # a signature of an empty thinking block
                self._blocks.append({"type": "thinking", "thinking": []})
            self._blocks[-1]["signature"] = delta.signature
            self._open = None
            self.signed = True
        elif type(delta) is RedactedReasoning:
            self._blocks.append({"type": "redacted_thinking", "data": delta.data})
            self._open = None
            self.signed = True

    def text(self) -> str:
        return "".join("".join(b["thinking"]) for b in self._blocks if b["type"] == "thinking")

    def blocks(self) -> list[dict[str, Any]]:
        """``thinking`` (with its ``signature`` when signed) and ``redacted_thinking`` blocks, in order."""
        return [{**b, "thinking": "".join(b["thinking"])} if b["type"] == "thinking" else dict(b) for b in self._blocks]
