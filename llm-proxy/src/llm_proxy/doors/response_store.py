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
    size: int  # approximate bytes held


class ResponseStore:
    """At most ``per_caller`` responses per caller and ``max_bytes`` (approximate) in all, each for ``ttl`` seconds;
    the least recently stored go first."""

    def __init__(
        self, per_caller: int, ttl: float, max_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._per_caller = per_caller
        self._ttl = ttl
        self._max_bytes = max_bytes
        self._clock = clock
        self._store: dict[str, OrderedDict[str, StoredResponse]] = {}
        self._order: OrderedDict[tuple[str, str], int] = OrderedDict()  # every entry, oldest first → its size
        self.bytes = 0

    def put(
        self, caller: str, response_id: str, conversation: list[ChatMessage], response: dict[str, Any], size: int
    ) -> None:
        """Keep a response; ``size`` is what it holds (about its request body and its output)."""
        if self._per_caller == 0 or size > self._max_bytes:
            return
        responses = self._store.setdefault(caller, OrderedDict())
        responses[response_id] = StoredResponse(tuple(conversation), response, self._clock(), size)
        self._order[(caller, response_id)] = size
        self.bytes += size
        while len(responses) > self._per_caller:
            self._forget(caller, next(iter(responses)))
        while self.bytes > self._max_bytes:
            self._forget(*next(iter(self._order)))

    def _forget(self, caller: str, response_id: str) -> None:
        responses = self._store.get(caller)
        if responses is None or responses.pop(response_id, None) is None:
            return
        self.bytes -= self._order.pop((caller, response_id))
        if not responses:
            del self._store[caller]

    def find(self, caller: str, response_id: str) -> StoredResponse | None:
        """The caller's stored response, if it is still kept."""
        responses = self._store.get(caller)
        stored = responses.get(response_id) if responses is not None else None
        if stored is not None and self._clock() - stored.stored_at > self._ttl:
            self._forget(caller, response_id)
            stored = None
        return stored

    def delete(self, caller: str, response_id: str) -> None:
        self._forget(caller, response_id)

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
