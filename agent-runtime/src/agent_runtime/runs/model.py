"""Calling the model: retries before the first token, a small circuit breaker, and one streamed reply folded into
text plus every tool call of the response.

Retries happen only while nothing has been relayed: once a delta went out, a failure ends the turn (the text the user
saw cannot be taken back). The breaker opens after ``breaker_threshold`` failed calls in a row and refuses calls for
``breaker_cooldown`` seconds, so a dead llm-proxy costs one quick error per message instead of a retry storm. Only
failures of the service count (unreachable, timeouts, 429, 5xx, a stream cut mid-answer); a refusal of the request
(an unknown model, a bad parameter) proves the service is up and closes the count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.application.ports import LLMClient

# Statuses worth another attempt: unreachable (0), rate limits and upstream failures. Not 504: the proxy gave up
# waiting (the model's first-byte limit) or stopped answering, and sending again would only pay for the wait again.
_RETRYABLE = frozenset({0, 408, 425, 429, 500, 502, 503})
_SERVICE_FAILURES = _RETRYABLE | {504}  # what counts against the breaker


class ModelFailed(Exception):
    """The model call failed for good; ``message`` is safe to show, ``code`` goes into the error chunk."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(slots=True)
class RawToolCall:
    """One tool call of a response as the model sent it (arguments still JSON text)."""

    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class Reply:
    text: str
    tool_calls: list[RawToolCall]
    usage: dict[str, int]
    finish_reason: str | None = None  # the provider's (OpenAI): stop, tool_calls, length, content_filter


@dataclass(slots=True)
class CircuitBreaker:
    threshold: int = 5
    cooldown: float = 10.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None

    def allows(self) -> bool:
        if self.opened_at is None:
            return True
        if self.clock() - self.opened_at >= self.cooldown:
            self.opened_at = None  # half-open: one call decides
            self.failures = self.threshold - 1
            return True
        return False

    def succeeded(self) -> None:
        self.failures, self.opened_at = 0, None

    def failed(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = self.clock()


@dataclass(slots=True)
class _Assembly:
    """Tool-call deltas folded by index (ids and names arrive once, arguments in pieces)."""

    parts: list[str] = field(default_factory=list)
    calls: dict[int, list[Any]] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    relayed: bool = False
    finish_reason: str | None = None

    def reply(self) -> Reply:
        calls = [RawToolCall(c[0] or "", c[1] or "", "".join(c[2])) for _, c in sorted(self.calls.items())]
        return Reply("".join(self.parts), calls, self.usage, self.finish_reason)


class ModelCaller:
    """Streams one reply; ``on_token`` is awaited with each text delta as it arrives."""

    def __init__(
        self,
        model: LLMClient,
        *,
        retries: int = 2,
        backoff: float = 0.2,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._model = model
        self._retries = retries
        self._backoff = backoff
        self._breaker = breaker or CircuitBreaker()
        self._sleep = sleep

    async def reply(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        session_id: str,
        on_token: Callable[[str], Awaitable[None]],
    ) -> Reply:
        if not self._breaker.allows():
            raise ModelFailed("The model service is unavailable; try again in a few seconds.", "llm_unavailable")
        attempt = 0
        while True:
            assembly = _Assembly()
            try:
                stream = self._model.stream_chat(model=model, messages=messages, tools=tools, session_id=session_id)
                async for chunk in stream:
                    token = _fold(chunk, assembly)
                    if token:
                        await on_token(token)
            except Exception as exc:  # every model failure is classified below
                status = int(getattr(exc, "status", 0) or 0)
                if assembly.relayed or status not in _RETRYABLE or attempt >= self._retries:
                    if assembly.relayed or status in _SERVICE_FAILURES:
                        self._breaker.failed()
                    else:
                        self._breaker.succeeded()  # a refusal (404 model, 400) says the service is up
                    raise _failure(exc, status, assembly.relayed) from exc
                attempt += 1
                await self._sleep(self._backoff * attempt)
                continue
            self._breaker.succeeded()
            return assembly.reply()

    async def complete(self, *, model: str, messages: list[dict[str, Any]], response_format: dict[str, Any]) -> str:
        """One answer that is not relayed (the orchestrator's classification); raises on failure, no retries."""
        if not self._breaker.allows():
            raise ModelFailed("The model service is unavailable.", "llm_unavailable")
        parts: list[str] = []
        stream = self._model.stream_chat(model=model, messages=messages, response_format=response_format)
        async for chunk in stream:
            for choice in chunk.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if content:
                    parts.append(content)
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class Classifier:
    """The routing model (``agents.routing.ClassifierModel``) on top of a :class:`ModelCaller`."""

    caller: ModelCaller
    model: str

    async def complete(self, messages: list[dict[str, Any]], *, response_format: dict[str, Any]) -> str:
        return await self.caller.complete(model=self.model, messages=messages, response_format=response_format)


def _fold(chunk: dict[str, Any], assembly: _Assembly) -> str | None:
    """Fold one OpenAI chunk into the assembly; returns its text delta, if any."""
    text = None
    usage = chunk.get("usage")
    if usage:
        assembly.usage = {k: int(usage.get(k) or 0) for k in ("prompt_tokens", "completion_tokens")}
    for choice in chunk.get("choices") or ():
        if choice.get("finish_reason"):
            assembly.finish_reason = choice["finish_reason"]
        delta = choice.get("delta") or {}
        token = delta.get("content")
        if token:
            assembly.parts.append(token)
            assembly.relayed = True
            text = token if text is None else text + token
        for piece in delta.get("tool_calls") or ():
            slot = assembly.calls.setdefault(int(piece.get("index") or 0), [None, None, []])
            function = piece.get("function") or {}
            if piece.get("id"):
                slot[0] = piece["id"]
            if function.get("name"):
                slot[1] = function["name"]
            if function.get("arguments"):
                slot[2].append(function["arguments"])
    return text


def _failure(exc: Exception, status: int, relayed: bool) -> ModelFailed:
    detail = str(getattr(exc, "message", "") or exc) or type(exc).__name__
    if relayed:
        return ModelFailed(f"The model failed in the middle of its answer: {detail}", "llm_stream_failed")
    if status == 0:
        return ModelFailed(f"The model service is unreachable: {detail}", "llm_unavailable")
    return ModelFailed(f"The model call failed ({status}): {detail}", "llm_error")
