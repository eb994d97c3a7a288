"""Fitting an OpenAI-format history into a model's context window.

Token estimate (a documented heuristic, no tokenizer): ``ceil(utf8_bytes / 4)`` for each text (content, tool call
names and arguments) plus 4 tokens per message for the role and framing. Four bytes per token matches English with
BPE tokenizers and over-counts Cyrillic (two bytes per letter), so the estimate errs on the safe side; callers keep
a reserve for the reply and the tool schemas.

The history is cut into units that are never split: an assistant message with ``tool_calls`` together with the
``tool`` messages that answer it, or any other single message. Leading system messages and everything from the last
user message on are always kept. The oldest other units are dropped first and replaced by one condensed note (a
system message right after the system prompt) naming how many messages were left out and the first words of the
latest dropped user requests; what remains starts with a user message. When that is still too large, the longest
tool results of the kept part are shortened.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]
_PER_MESSAGE = 4
_NOTE_TOPICS = 5
_TOPIC_CHARS = 60
_MIN_TOOL_RESULT = 200
_MARKER_ROOM = 64


@dataclass(frozen=True, slots=True)
class FittedHistory:
    """The messages to send and what was left out to get there."""

    messages: list[Message]
    dropped_messages: int
    truncated_tool_results: int
    fits: bool

    @property
    def estimated_tokens(self) -> int:
        return _tokens(self.messages)


def estimate_text_tokens(text: str) -> int:
    """Tokens of one text by the module's heuristic (ceil of UTF-8 bytes / 4)."""
    return -(-len(text.encode("utf-8")) // 4)


def estimate_tokens(message: Message) -> int:
    """Tokens of one OpenAI message: its content, tool calls and a fixed framing cost."""
    total = _PER_MESSAGE
    content = message.get("content")
    if isinstance(content, str):
        total += estimate_text_tokens(content)
    elif isinstance(content, list):
        total += sum(estimate_text_tokens(str(part.get("text", ""))) for part in content if isinstance(part, dict))
    for call in message.get("tool_calls") or ():
        function = call.get("function", {})
        total += estimate_text_tokens(str(function.get("name", ""))) + estimate_text_tokens(
            str(function.get("arguments", ""))
        )
    return total


def fit_history(messages: Sequence[Message], *, context_window: int, reserve_tokens: int = 0) -> FittedHistory:
    """The history cut to ``context_window - reserve_tokens`` estimated tokens (module docstring for the rules)."""
    budget = context_window - reserve_tokens
    if _bound(messages) <= budget:  # the common case: far from the window, nothing to count exactly
        return FittedHistory(list(messages), 0, 0, True)
    head, units, tail = _split(messages)
    sizes = [_tokens(unit) for unit in units]
    total = _tokens(head) + _tokens(tail) + sum(sizes)
    cut = 0
    # Once anything is dropped the note is added; its size is bounded, so reserve the bound (linear, no re-summing).
    while cut < len(units) and total + (_NOTE_BOUND if cut else 0) > budget:
        total -= sizes[cut]
        cut += 1
    # Some providers (Anthropic) need the conversation after the system prompt to start with a user message.
    while 0 < cut < len(units) and units[cut][0].get("role") != "user":
        cut += 1
    dropped = [message for unit in units[:cut] for message in unit]
    note = [_note(dropped)] if dropped else []
    result = [*head, *note, *(message for unit in units[cut:] for message in unit), *tail]
    truncated = 0
    if _tokens(result) > budget:
        result, truncated = _shorten_tool_results(result, _tokens(result) - budget)
    return FittedHistory(result, len(dropped), truncated, _tokens(result) <= budget)


def _bound(messages: Sequence[Message]) -> float:
    """An upper bound of the estimate from character counts alone (a character is at most four UTF-8 bytes, so at
    most one estimated token): a loop without encoding, cheap enough for every model call. Infinite for content
    that is not a string (counted exactly instead)."""
    total = _PER_MESSAGE * len(messages)
    for message in messages:
        content = message.get("content")
        if content.__class__ is str:
            total += len(content)
        elif content is not None:
            return math.inf
        calls = message.get("tool_calls")
        if calls:
            for call in calls:
                function = call.get("function", {})
                total += len(str(function.get("name", ""))) + len(str(function.get("arguments", "")))
    return total


def _split(messages: Sequence[Message]) -> tuple[list[Message], list[list[Message]], list[Message]]:
    """Leading system messages, droppable units, and the protected tail from the last user message on."""
    start = 0
    while start < len(messages) and messages[start].get("role") == "system":
        start += 1
    last_user = max((i for i in range(start, len(messages)) if messages[i].get("role") == "user"), default=None)
    end = last_user if last_user is not None else len(messages)
    units: list[list[Message]] = []
    index = start
    while index < end:
        unit = [messages[index]]
        ids = {call.get("id") for call in messages[index].get("tool_calls") or ()}
        index += 1
        while ids and index < len(messages) and messages[index].get("role") == "tool":
            unit.append(messages[index])
            index += 1
        units.append(unit)
    return list(messages[:start]), units, list(messages[end:])


def _tokens(messages: Sequence[Message]) -> int:
    return sum(estimate_tokens(message) for message in messages)


def _note(dropped: Sequence[Message]) -> Message:
    topics = [
        " ".join(str(message.get("content", "")).split()[:8])[:_TOPIC_CHARS]
        for message in dropped
        if message.get("role") == "user" and isinstance(message.get("content"), str)
    ][-_NOTE_TOPICS:]
    text = f"[Earlier conversation condensed: {len(dropped)} older messages were left out to fit the context window."
    if topics:
        text += " Earlier requests: " + "; ".join(f'"{topic}"' for topic in topics) + "."
    return {"role": "system", "content": text + "]"}


def _note_bound() -> int:
    # Four-byte characters are the worst case of the byte-based estimate.
    longest = [{"role": "user", "content": "\U0001f600" * _TOPIC_CHARS}] * _NOTE_TOPICS
    return estimate_tokens(_note(longest)) + 8  # the digits of a large dropped-message count


_NOTE_BOUND = _note_bound()


def _shorten_tool_results(messages: list[Message], excess: int) -> tuple[list[Message], int]:
    """Shorten the longest tool results first until ``excess`` tokens are saved (or nothing is left to cut)."""
    order = sorted(
        (i for i, message in enumerate(messages) if message.get("role") == "tool"),
        key=lambda i: -estimate_tokens(messages[i]),
    )
    result, count = list(messages), 0
    for index in order:
        if excess <= 0:
            break
        content = str(result[index].get("content", ""))
        # Cut the excess plus room for the marker, which is itself counted.
        keep = max(_MIN_TOOL_RESULT, len(content) - excess * 4 - _MARKER_ROOM)
        if keep >= len(content):
            continue
        shortened = content[:keep] + f"\n[… {len(content) - keep} characters of this tool result left out]"
        excess -= estimate_text_tokens(content) - estimate_text_tokens(shortened)
        result[index] = {**result[index], "content": shortened}
        count += 1
    return result, count
