"""The one fake model of the runtime's tests: a client of the llm-proxy speaking OpenAI streaming chunks.

By default it follows the llm-proxy mock's directive language (llm-proxy/README.md), so the same scripts drive the
unit tests here and the integration tests against the real mock. With ``reply`` it answers those tokens to every call
(``fail_after`` raises mid-stream, ``delay`` paces the tokens).

Directives are ``[[...]]`` spans in the last user message: ``[[tool:NAME {json}]]``, ``[[text:...]]``,
``[[route:AGENT CONFIDENCE REASON]]`` (answers json_object requests), ``[[fault:KIND]]`` with KIND ``down`` (connection
refused: status 0), ``500``, ``429``, ``midstream``; ``[[N:...]]`` applies to round N, where round = 1 + the number of
assistant messages with tool calls after that user message. No directive: round 1 echoes the user text, later rounds
answer ``Done.``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

_HEAD = re.compile(r"(?:(\d+):)?(tool|text|route|fault):")
_DECODER = json.JSONDecoder()


class FakeModelError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Round:
    texts: list[str] = field(default_factory=list)
    tools: list[tuple[str, str]] = field(default_factory=list)
    route: str | None = None
    fault: str | None = None


def parse(text: str) -> tuple[str, list[tuple[int, str, str, str]]]:
    """The text without directives, and the directives as (round, kind, value, tool name)."""
    found: list[tuple[int, str, str, str]] = []
    kept, position = [], 0
    while (start := text.find("[[", position)) != -1:
        head = _HEAD.match(text, start + 2)
        if head is None:
            kept.append(text[position : start + 2])
            position = start + 2
            continue
        number, kind, body = int(head.group(1) or 1), head.group(2), head.end()
        if kind == "tool":
            name, _, rest = text[body:].partition(" ")
            name = name.rstrip("]")
            offset = body + len(name) + 1
            arguments, end = "{}", body + len(name)
            if rest.startswith("{"):
                _, end = _DECODER.raw_decode(text, offset)
                arguments = text[offset:end]
            close = text.index("]]", end)
            found.append((number, kind, arguments, name))
        else:
            close = text.index("]]", body)
            found.append((number, kind, text[body:close].strip(), ""))
        kept.append(text[position:start])
        position = close + 2
    kept.append(text[position:])
    return re.sub(r"[ \t]{2,}", " ", "".join(kept)).strip(), found


class FakeLLM:
    """Records every request; ``down`` makes every call fail as if the llm-proxy were unreachable; ``hold`` keeps
    an answer waiting (to cancel or queue behind it)."""

    def __init__(
        self, reply: Sequence[str] | None = None, *, fail_after: int | None = None, delay: float = 0.0
    ) -> None:
        self.reply = list(reply) if reply is not None else None
        self.fail_after = fail_after
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.down = False
        self.hold: asyncio.Event | None = None  # when set, answers wait for it before the first token
        self.called = asyncio.Event()

    async def stream_chat(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        self.requests.append({"model": model, "messages": messages, "tools": tools, "response_format": response_format})
        self.called.set()
        if self.down:
            raise FakeModelError(0, "connection refused")
        if self.hold is not None:
            await self.hold.wait()
        if self.reply is not None:
            async for chunk in self._fixed(self.reply):
                yield chunk
            return
        last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
        text = str(messages[last_user]["content"]) if last_user >= 0 else ""
        number = 1 + sum(1 for m in messages[last_user + 1 :] if m["role"] == "assistant" and m.get("tool_calls"))
        echo, directives = parse(text)
        plan = _round(directives, number)
        if plan.fault in ("down", "500", "429"):
            raise FakeModelError(0 if plan.fault == "down" else int(plan.fault), f"mock fault {plan.fault}")
        if response_format and plan.route is not None:
            agent, confidence, reason = [*plan.route.split(" ", 2), "", ""][:3]
            yield _content(json.dumps({"agent": agent, "confidence": float(confidence), "reason": reason}))
            return
        words = " ".join(plan.texts) if plan.texts else (echo if number == 1 and not plan.tools else "")
        if not words and not plan.tools:
            words = "Done."
        pieces = re.findall(r"\s*\S+", words)
        for index, piece in enumerate(pieces):
            if plan.fault == "midstream" and index == max(1, len(pieces) // 2):
                raise FakeModelError(502, "the upstream reported an error mid-stream")
            yield _content(piece)
        digest = hashlib.blake2s("".join(str(m.get("content")) for m in messages).encode(), digest_size=4).hexdigest()
        for chunk in _tool_call_chunks(plan.tools, f"call_{number}", digest):
            yield chunk
        yield {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": len(pieces) + len(plan.tools)}}

    async def _fixed(self, tokens: list[str]) -> AsyncIterator[dict[str, Any]]:
        for index, token in enumerate(tokens):
            if self.fail_after is not None and index >= self.fail_after:
                raise FakeModelError(502, "upstream exploded")
            if self.delay:
                await asyncio.sleep(self.delay)
            yield _content(token)
        yield {
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": len(tokens), "total_tokens": 3 + len(tokens)},
        }


def _round(directives: list[tuple[int, str, str, str]], number: int) -> _Round:
    """What the directives say for round ``number``."""
    plan = _Round()
    for index, kind, value, name in directives:
        if index != number:
            continue
        if kind == "tool":
            plan.tools.append((name, value))
        elif kind == "text":
            plan.texts.append(value)
        elif kind == "route":
            plan.route = value
        else:
            plan.fault = value
    return plan


def _tool_call_chunks(tools: list[tuple[str, str]], prefix: str, digest: str) -> list[dict[str, Any]]:
    """Each call as the providers stream it: a head with id and name, then its arguments in two pieces."""
    out: list[dict[str, Any]] = []
    for index, (name, arguments) in enumerate(tools):
        call_id = f"{prefix}_{index}_{digest}"
        head = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        out.append({"choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
        middle = len(arguments) // 2
        for part in (arguments[:middle], arguments[middle:]):
            piece = {"index": index, "function": {"arguments": part}}
            out.append({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]})
    return out


def _content(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}
