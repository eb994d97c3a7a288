"""The mock model's directive language: ``[[...]]`` spans in the last user message that script its answers.

See llm-proxy/README.md for the language. Parsing is pure and deterministic: the same conversation always gets
the same plan, the same tool-call ids and the same argument splits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from itertools import cycle

from llm_proxy.schemas import ChatCompletionRequest

_HEAD = re.compile(r"(?:(\d+):)?(tool|text|think|route|delay_ms|ttft_ms|fault|usage):")
_TOOL_NAME = re.compile(r"\s*([A-Za-z0-9_.\-]+)\s*")
FAULTS = frozenset({"429", "500", "503", "stall", "midstream", "truncate", "malformed"})
_JSON = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Directive:
    round: int
    kind: str
    value: str
    tool_name: str = ""


@dataclass(slots=True)
class RoundPlan:
    """What the mock does in one round of the conversation."""

    round: int
    echo: str
    texts: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tools: list[tuple[str, str]] = field(default_factory=list)
    route: str | None = None
    delay_ms: float | None = None
    ttft_ms: float | None = None
    fault: str | None = None
    usage: tuple[int, int] | None = None


def parse(text: str) -> tuple[str, list[Directive]]:
    """The text with every directive removed, and the directives in order."""
    directives: list[Directive] = []
    kept: list[str] = []
    position = 0
    while (start := text.find("[[", position)) != -1:
        parsed = _directive_at(text, start + 2)
        if parsed is None:
            kept.append(text[position : start + 2])
            position = start + 2
            continue
        directive, end = parsed
        directives.append(directive)
        kept.append(text[position:start])
        position = end
    kept.append(text[position:])
    return re.sub(r"[ \t]{2,}", " ", "".join(kept)).strip(), directives


def _directive_at(text: str, index: int) -> tuple[Directive, int] | None:
    head = _HEAD.match(text, index)
    if head is None:
        return None
    round_number = int(head.group(1) or 1)
    kind = head.group(2)
    body = head.end()
    if kind == "tool":
        return _tool_at(text, body, round_number)
    close = text.find("]]", body)
    if close == -1:
        return None
    return Directive(round_number, kind, text[body:close].strip()), close + 2


def _tool_at(text: str, index: int, round_number: int) -> tuple[Directive, int] | None:
    name = _TOOL_NAME.match(text, index)
    if name is None:
        return None
    position = name.end()
    arguments = "{}"
    if text.startswith(("{", "["), position):
        try:
            _, end = _JSON.raw_decode(text, position)
        except ValueError:
            return None
        arguments = text[position:end]
        position = end
    while position < len(text) and text[position].isspace():
        position += 1
    if not text.startswith("]]", position):
        return None
    return Directive(round_number, "tool", arguments, name.group(1)), position + 2


def plan(request: ChatCompletionRequest) -> RoundPlan:
    """The plan for the round this request is in."""
    last_user = max((i for i, m in enumerate(request.messages) if m.role == "user"), default=-1)
    text = request.messages[last_user].text() if last_user >= 0 else ""
    later = request.messages[last_user + 1 :]
    round_number = 1 + sum(1 for m in later if m.role == "assistant" and m.tool_calls)
    echo, directives = parse(text)
    result = RoundPlan(round_number, echo)
    for directive in directives:
        if directive.round == round_number:
            _apply(result, directive)
    return result


def _apply(plan: RoundPlan, directive: Directive) -> None:
    kind, value = directive.kind, directive.value
    if kind == "tool":
        plan.tools.append((directive.tool_name, value))
    elif kind == "text":
        plan.texts.append(value)
    elif kind == "think":
        plan.thinking.append(value)
    elif kind == "route":
        plan.route = value
    elif kind in ("delay_ms", "ttft_ms"):
        with contextlib.suppress(ValueError):
            setattr(plan, kind, max(0.0, float(value)))
    elif kind == "fault" and value in FAULTS:
        plan.fault = value
    elif kind == "usage":
        numbers = value.split()
        if len(numbers) == 2 and all(n.isdigit() for n in numbers):
            plan.usage = (int(numbers[0]), int(numbers[1]))


def route_answer(value: str) -> str:
    """``AGENT CONFIDENCE REASON...`` → the orchestrator's classification JSON."""
    agent, _, rest = value.partition(" ")
    confidence_text, _, reason = rest.strip().partition(" ")
    confidence: float | str
    try:
        confidence = float(confidence_text)
    except ValueError:
        confidence = confidence_text
    return json.dumps({"agent": agent, "confidence": confidence, "reason": reason.strip()}, ensure_ascii=False)


def conversation_hash(request: ChatCompletionRequest) -> str:
    """A short digest of the conversation so far, so tool-call ids differ between conversations."""
    digest = hashlib.blake2s(digest_size=4)
    for message in request.messages:
        if message.role in ("system", "user"):
            digest.update(message.role.encode() + b"\x00" + message.text().encode() + b"\x00")
    return digest.hexdigest()


def thinking_signature(thinking: str) -> str:
    """The mock's signature of a thinking block: deterministic, and different for every text."""
    return "mocksig-" + hashlib.blake2s(thinking.encode(), digest_size=12).hexdigest()


def split_awkwardly(arguments: str, awkward: int = 512, rest: int = 1024) -> list[str]:
    """Fragments of 1, 4, 2, 7, 3 … characters, also cut right after a backslash, so a client must accumulate;
    after the first ``awkward`` characters, ``rest``-sized pieces (a large file write stays cheap to stream)."""
    pieces: list[str] = []
    sizes = cycle((1, 4, 2, 7, 3))
    start = 0
    while start < len(arguments):
        if start >= awkward:
            pieces.extend(arguments[i : i + rest] for i in range(start, len(arguments), rest))
            break
        end = min(len(arguments), start + next(sizes))
        backslash = arguments.find("\\", start, end)
        if backslash != -1 and backslash + 1 < end:
            end = backslash + 1
        pieces.append(arguments[start:end])
        start = end
    return pieces
