"""``TokenStore`` in Redis, shared by every gateway replica (ADR 0007).

A family is a hash ``<prefix>family:<id>`` (``current`` digest, ``revoked``, ``subject``, ``client``, ``uv``) that
expires with its refresh token; the rotation and the revocation are Lua scripts, so each is atomic whichever replica
runs it (and a revocation never recreates a family that expired). Failure counters are plain integers that expire
with their window.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from gateway.identity.store import Family, Rotation, TokenStoreUnavailable

_ROTATE = """
local found = redis.call('HMGET', KEYS[1], 'current', 'revoked', 'subject', 'client', 'uv')
if not found[1] then return {'unknown'} end
if found[2] == '1' or found[1] ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'revoked', '1')
  return {'reused', found[3], found[4], found[5]}
end
redis.call('HSET', KEYS[1], 'current', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'rotated', found[3], found[4], found[5]}
"""

_REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'revoked', '1') end
return 0
"""

_ADD_FAILURE = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class RedisTokenStore:
    def __init__(self, url: str, prefix: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = prefix
        self._rotate = self._redis.register_script(_ROTATE)
        self._revoke = self._redis.register_script(_REVOKE)
        self._add_failure = self._redis.register_script(_ADD_FAILURE)

    async def open_family(self, family_id: str, family: Family, digest: str, ttl: float) -> None:
        key = self._family(family_id)
        fields: dict[FieldT, EncodableT] = {
            "current": digest,
            "revoked": "0",
            "subject": family.subject,
            "client": family.client_id,
            "uv": family.user_version,
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.pexpire(key, _ms(ttl))
            await self._run(pipe.execute())

    async def rotate(
        self, family_id: str, presented: str, replacement: str, ttl: float
    ) -> tuple[Rotation, Family | None]:
        answer = await self._run(self._rotate(keys=[self._family(family_id)], args=[presented, replacement, _ms(ttl)]))
        outcome = Rotation(_text(answer[0]))
        if outcome is Rotation.UNKNOWN:
            return outcome, None
        return outcome, Family(_text(answer[1]), _text(answer[2]), _text(answer[3]))

    async def is_active(self, family_id: str) -> bool:
        current, revoked = await self._run(self._redis.hmget(self._family(family_id), ["current", "revoked"]))
        return current is not None and revoked != b"1"

    async def revoke(self, family_id: str) -> None:
        await self._run(self._revoke(keys=[self._family(family_id)]))

    async def failures(self, key: str) -> tuple[int, float]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._prefix + key)
            pipe.pttl(self._prefix + key)
            count, remaining = await self._run(pipe.execute())
        if count is None or remaining <= 0:
            return 0, 0.0
        return int(count), remaining / 1000

    async def add_failure(self, key: str, window: float) -> None:
        await self._run(self._add_failure(keys=[self._prefix + key], args=[_ms(window)]))

    async def clear_failures(self, key: str) -> None:
        await self._run(self._redis.delete(self._prefix + key))

    async def aclose(self) -> None:
        await self._redis.aclose()

    def _family(self, family_id: str) -> str:
        return f"{self._prefix}family:{family_id}"

    @staticmethod
    async def _run(awaitable: Any) -> Any:
        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            raise TokenStoreUnavailable(f"token store unavailable: {type(exc).__name__}") from None


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
