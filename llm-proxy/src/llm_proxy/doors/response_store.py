"""Recent responses kept for ``previous_response_id``, GET and DELETE: per caller, bounded in number and age.

A response continues the conversation it was part of: its input (after the previous one's, instructions left out)
and its output, as chat messages. Each caller sees only what it stored; an unknown or expired id is a 400 that says so.
Without Redis the responses live in the process (``ResponseStore``, also bounded in memory); with
``LLM_PROXY__REDIS_URL`` every replica reads and writes them in Redis (``shared_responses.SharedResponseStore``), so a
turn may land on any replica behind the load balancer.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
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


class Responses(ABC):
    """Where a door keeps its responses: at most ``per_caller`` per caller, each for ``ttl`` seconds."""

    def __init__(self, per_caller: int, ttl: float) -> None:
        self.per_caller = per_caller
        self.ttl = ttl

    @abstractmethod
    async def put(
        self, caller: str, response_id: str, conversation: list[ChatMessage], response: dict[str, Any], size: int
    ) -> None:
        """Keep a response; ``size`` is what it holds (about its request body and its output)."""

    @abstractmethod
    async def find(self, caller: str, response_id: str) -> StoredResponse | None:
        """The caller's stored response, if it is still kept."""

    @abstractmethod
    async def delete(self, caller: str, response_id: str) -> bool:
        """Forget the caller's response; whether it was kept."""

    async def get(self, caller: str, response_id: str) -> StoredResponse:
        """The stored response; a 400 ``ProxyError`` (param ``previous_response_id``) when unknown or expired."""
        stored = await self.find(caller, response_id)
        if stored is None:
            raise ProxyError(
                "bad_request",
                f"Previous response with id '{response_id}' not found: it is unknown, expired (responses are kept "
                f"{self.ttl:g} s) or was created with store: false. Send the whole conversation as input instead.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        return stored


class ResponseStore(Responses):
    """In the process: also at most ``max_bytes`` (approximate) in all; the least recently stored go first."""

    def __init__(
        self, per_caller: int, ttl: float, max_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(per_caller, ttl)
        self._max_bytes = max_bytes
        self._clock = clock
        self._store: dict[str, OrderedDict[str, StoredResponse]] = {}
        self._order: OrderedDict[tuple[str, str], int] = OrderedDict()  # every entry, oldest first → its size
        self.bytes = 0

    async def put(
        self, caller: str, response_id: str, conversation: list[ChatMessage], response: dict[str, Any], size: int
    ) -> None:
        if self.per_caller == 0 or size > self._max_bytes:
            return
        responses = self._store.setdefault(caller, OrderedDict())
        responses[response_id] = StoredResponse(tuple(conversation), response, self._clock(), size)
        self._order[(caller, response_id)] = size
        self.bytes += size
        while len(responses) > self.per_caller:
            self._forget(caller, next(iter(responses)))
        while self.bytes > self._max_bytes:
            self._forget(*next(iter(self._order)))

    def _forget(self, caller: str, response_id: str) -> bool:
        responses = self._store.get(caller)
        if responses is None or responses.pop(response_id, None) is None:
            return False
        self.bytes -= self._order.pop((caller, response_id))
        if not responses:
            del self._store[caller]
        return True

    async def find(self, caller: str, response_id: str) -> StoredResponse | None:
        responses = self._store.get(caller)
        stored = responses.get(response_id) if responses is not None else None
        if stored is not None and self._clock() - stored.stored_at > self.ttl:
            self._forget(caller, response_id)
            stored = None
        return stored

    async def delete(self, caller: str, response_id: str) -> bool:
        return await self.find(caller, response_id) is not None and self._forget(caller, response_id)
