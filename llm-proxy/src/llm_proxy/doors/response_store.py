"""Recent responses kept for ``previous_response_id``: per caller, bounded in number and age, in memory.

A response continues the conversation it was part of: its input (after the previous one's, instructions left out)
and its output, as chat messages. Each caller sees only what it stored; an unknown or expired id is a 400 that says so.
A replica does not see another replica's responses (a load balancer with sticky sessions, or clients that resend the
history, as the Codex CLI does, avoid the question).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llm_proxy.errors import ProxyError
from llm_proxy.schemas import ChatMessage


@dataclass(slots=True, frozen=True)
class StoredResponse:
    conversation: tuple[ChatMessage, ...]
    response: dict[str, Any]
    stored_at: float


class ResponseStore:
    """At most ``per_caller`` responses per caller (least recently stored dropped first), each for ``ttl`` seconds;
    at most ``callers`` callers (the least recently active dropped first)."""

    def __init__(
        self, per_caller: int, ttl: float, callers: int = 1000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._per_caller = per_caller
        self._ttl = ttl
        self._callers = callers
        self._clock = clock
        self._store: OrderedDict[str, OrderedDict[str, StoredResponse]] = OrderedDict()

    def put(self, caller: str, response_id: str, conversation: list[ChatMessage], response: dict[str, Any]) -> None:
        if self._per_caller == 0:
            return
        responses = self._store.pop(caller, None) or OrderedDict()
        self._store[caller] = responses
        responses[response_id] = StoredResponse(tuple(conversation), response, self._clock())
        while len(responses) > self._per_caller:
            responses.popitem(last=False)
        while len(self._store) > self._callers:
            self._store.popitem(last=False)

    def find(self, caller: str, response_id: str) -> StoredResponse | None:
        """The caller's stored response, if it is still kept."""
        responses = self._store.get(caller)
        stored = responses.get(response_id) if responses is not None else None
        if stored is not None and self._clock() - stored.stored_at > self._ttl:
            del self._store[caller][response_id]
            stored = None
        return stored

    def delete(self, caller: str, response_id: str) -> None:
        responses = self._store.get(caller)
        if responses is not None:
            responses.pop(response_id, None)

    def get(self, caller: str, response_id: str) -> StoredResponse:
        """The stored response; a 400 ``ProxyError`` (param ``previous_response_id``) when unknown or expired."""
        stored = self.find(caller, response_id)
        if stored is None:
            raise ProxyError(
                "bad_request",
                f"Previous response with id '{response_id}' not found: it is unknown, expired (responses are kept "
                f"{self._ttl:g} s) or was created with store: false. Send the whole conversation as input instead.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        return stored
