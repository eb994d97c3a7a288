"""Stored responses in Redis, so ``previous_response_id``, GET and DELETE work on every replica.

Each response is one key, ``<prefix>response:<caller>:<id>`` (JSON: its conversation and the response object), that
expires after ``RESPONSES_STORE_TTL_S``; a caller's index, ``<prefix>responses:<caller>`` (a sorted set by time
stored), keeps at most ``RESPONSES_STORE_LIMIT`` of them: storing one more drops the oldest. A response whose JSON is
larger than ``RESPONSES_STORE_MAX_ENTRY_MB`` is not kept. Callers are digests of their credential, so one caller's
keys are out of another's reach.

Redis goes through the ``RedisLink`` of ``shared_capacity`` (same timeout, same outage handling: one log line and
``llm_proxy_shared_state_outages_total``): while it is away, responses are stored in and read from the in-process
store, and a response not found in Redis is looked for there too (it may have been stored during an outage).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import structlog
from pydantic import BaseModel, ValidationError

from llm_proxy.doors.response_store import Responses, ResponseStore, StoredResponse
from llm_proxy.schemas import ChatMessage
from llm_proxy.shared_capacity import RedisLink

_log = structlog.get_logger("llm_proxy.shared_responses")

# KEYS[1]: the caller's index, KEYS[2]: the response. ARGV: the response's JSON, ttl ms, limit, id, the prefix of the
# caller's response keys. Stores the response and drops the caller's expired and oldest ones beyond the limit.
_PUT = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local ttl, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
local excess = redis.call('ZCARD', KEYS[1]) - limit
if excess > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[1], 0, excess - 1)) do
    redis.call('DEL', ARGV[5] .. old)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1)
end
redis.call('PEXPIRE', KEYS[1], ttl)
return excess
"""


class SharedResponseStore(Responses):
    """Responses in Redis, in ``local`` while Redis is away (module docstring)."""

    def __init__(self, link: RedisLink, local: ResponseStore, max_entry_bytes: int) -> None:
        super().__init__(local.per_caller, local.ttl)
        self._link = link
        self._local = local
        self._max_entry_bytes = max_entry_bytes
        self._script = link.client.register_script(_PUT)

    def _index(self, caller: str) -> str:
        return f"{self._link.prefix}responses:{caller}"

    def _key(self, caller: str, response_id: str = "") -> str:
        return f"{self._link.prefix}response:{caller}:{response_id}"

    async def put(
        self, caller: str, response_id: str, conversation: list[ChatMessage], response: dict[str, Any], size: int
    ) -> None:
        if self.per_caller == 0:
            return
        data = orjson.dumps({"conversation": [_plain(message) for message in conversation], "response": response})
        if len(data) > self._max_entry_bytes:
            return
        keys = [self._index(caller), self._key(caller, response_id)]
        args: list[bytes | str | int] = [
            data,
            max(1, round(self.ttl * 1000)),
            self.per_caller,
            response_id,
            self._key(caller),
        ]
        if await self._link.call(lambda: self._script(keys=keys, args=args)) is None:
            await self._local.put(caller, response_id, conversation, response, size)

    async def find(self, caller: str, response_id: str) -> StoredResponse | None:
        data = await self._link.call(lambda: self._link.client.get(self._key(caller, response_id)))
        if data is None:
            return await self._local.find(caller, response_id)
        try:
            kept = orjson.loads(data)
            conversation = tuple(ChatMessage.model_validate(message) for message in kept["conversation"])
            response = dict(kept["response"])
        except (orjson.JSONDecodeError, ValidationError, KeyError, TypeError, ValueError):
            # Not what this version writes (another version's, or damaged): as if it were not kept, never a 500.
            _log.warning("stored_response_unreadable", response_id=response_id)
            return await self._local.find(caller, response_id)
        return StoredResponse(conversation, response, time.monotonic(), len(data))

    async def delete(self, caller: str, response_id: str) -> bool:
        async def forget() -> int:
            async with self._link.client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(caller, response_id))
                pipe.zrem(self._index(caller), response_id)
                deleted, _ = await pipe.execute()
            return int(deleted)

        in_redis = await self._link.call(forget)
        in_process = await self._local.delete(caller, response_id)
        return bool(in_redis) or in_process


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data, every field set included: ``model_dump`` would leave out the fields marked
    ``exclude`` (signed reasoning blocks, cache_control), which a continued conversation still needs."""
    if isinstance(value, BaseModel):
        fields = {name: getattr(value, name) for name in type(value).model_fields}
        fields.update(value.model_extra or {})
        return {name: _plain(field) for name, field in fields.items() if field is not None}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
