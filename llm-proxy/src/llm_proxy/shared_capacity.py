"""Cooldowns and rpm/tpm budgets shared by the proxy's replicas through Redis (``LLM_PROXY__REDIS_URL``), and the
one Redis link (``RedisLink``) that they and the stored responses (``shared_responses``) use.

Budgets are taken atomically in Redis, on Redis's clock (one Lua script per request to a deployment that has an
rpm or tpm, nothing for the others), so N replicas with ``rpm: 10`` allow 10 requests a minute in total. Cooldowns
are read on every request, so each replica keeps its local copy: a replica that starts one writes it to Redis (a
key that expires with it) and publishes it; every replica applies what it hears, and reads them all back after
each (re)connect. The consecutive-failure counts that lead to a cooldown stay per replica.

Redis never fails a request and never delays one by more than ``REDIS_TIMEOUT_S``: when a call fails or times out
the link goes down (one log line, ``llm_proxy_shared_state_up`` 0, ``llm_proxy_shared_state_outages_total`` + 1)
and every replica counts on its own — from the shared window it saw last — until a background task has
reconnected and re-read the cooldowns. A Redis that restarted empty starts its windows afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from llm_proxy.capacity import WINDOW_S, BudgetExhausted, Clock, Cooldowns, RateBudgets
from llm_proxy.metrics import Metrics
from llm_proxy.settings import Settings

_log = structlog.get_logger("llm_proxy.shared_capacity")

T = TypeVar("T")
FAILURES = (RedisError, OSError, TimeoutError)
RECONNECT_S = 1.0  # pause between attempts to reach Redis again
PROBE_S = 1.0  # an idle link checks that Redis still answers this often
RESYNC_TIMEOUT_S = 5.0  # subscribing and reading every cooldown back, after a (re)connect
STARTUP_WAIT_S = 2.0  # start-up waits this long for Redis, then serves per process until it answers
MAX_CONNECTIONS = 32  # per process, the pub/sub connection included

# KEYS[1]: the deployment's window. ARGV: rpm, tpm (-1: no limit), tokens, window ms.
# Returns {taken 0|1, requests, tokens, ms left in the window}.
_TAKE = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local window = tonumber(ARGV[4])
local kept = redis.call('HMGET', KEYS[1], 'started', 'requests', 'tokens')
local started, requests, tokens = tonumber(kept[1]), tonumber(kept[2]) or 0, tonumber(kept[3]) or 0
if started == nil or now - started >= window then
  started, requests, tokens = now, 0, 0
end
local rpm, tpm, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local left = started + window - now
if (rpm >= 0 and requests >= rpm) or (tpm >= 0 and tokens > 0 and tokens + cost > tpm) then
  return {0, requests, tokens, left}
end
requests, tokens = requests + 1, tokens + cost
redis.call('HSET', KEYS[1], 'started', started, 'requests', requests, 'tokens', tokens)
redis.call('PEXPIRE', KEYS[1], left + 1000)
return {1, requests, tokens, left}
"""

# KEYS[1]: the deployment's cooldown. ARGV: ms, channel, name. Extends a cooldown, never shortens it, and tells
# every replica "<ms left> <name>".
_COOL = """
local left = redis.call('PTTL', KEYS[1])
local wanted = tonumber(ARGV[1])
if left < wanted then
  redis.call('SET', KEYS[1], '1', 'PX', wanted)
  left = wanted
end
redis.call('PUBLISH', ARGV[2], left .. ' ' .. ARGV[3])
return left
"""


class RedisLink:
    """The replicas' Redis. Every call is bounded by ``timeout``; any failure takes the link down until the
    maintainer (``maintain``, one background task) has reconnected."""

    def __init__(self, client: Redis, prefix: str, timeout: float, metrics: Metrics) -> None:
        self.client = client
        self.prefix = prefix
        self.channel = prefix + "cooldowns"
        self._timeout = timeout
        self._metrics = metrics
        self._up = asyncio.Event()
        self._down_reported = False
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def open(cls, settings: Settings, metrics: Metrics) -> RedisLink:
        """The link to ``settings.redis_url`` (connections open on first use; ``maintain`` brings it up)."""
        # No retries inside the client: a failed call is answered per process at once, the maintainer reconnects.
        # A bounded pool: a burst of requests waits for a connection (within the timeout) instead of opening more.
        pool = BlockingConnectionPool.from_url(
            settings.redis_url.get_secret_value(),
            max_connections=MAX_CONNECTIONS,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=RESYNC_TIMEOUT_S,
        )
        return cls(Redis.from_pool(pool), settings.redis_prefix, settings.redis_timeout_s, metrics)

    @property
    def up(self) -> bool:
        return self._up.is_set()

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T | None:
        """``operation``'s result, or None when Redis is down or fails now (the link goes down)."""
        if not self._up.is_set():
            return None
        try:
            async with asyncio.timeout(self._timeout):
                return await operation()
        except FAILURES as exc:
            self.down(exc)
            return None

    def spawn(self, operation: Callable[[], Awaitable[object]]) -> None:
        """Run ``call(operation)`` in the background: nobody waits for it."""
        task = asyncio.get_running_loop().create_task(self.call(operation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def down(self, exc: BaseException) -> None:
        if self._closing:
            return
        if self._up.is_set() or not self._down_reported:
            self._down_reported = True
            self._metrics.shared_state_outages.inc()
            _log.warning(
                "shared_state_unreachable",
                error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                effect="cooldowns, rpm/tpm budgets and stored responses are per process until Redis answers again",
            )
        self._up.clear()
        self._metrics.shared_state_up.set(0)

    async def wait_up(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._up.wait()
        return self.up

    async def maintain(self, on_connect: Callable[[], Awaitable[None]], on_message: Callable[[bytes], None]) -> None:
        """Forever: subscribe to the channel, ``on_connect`` (read shared state back), then hand every message to
        ``on_message`` and probe Redis while idle; after any failure, again ``RECONNECT_S`` later."""
        while not self._closing:
            try:
                await self._session(on_connect, on_message)
            except FAILURES as exc:
                self.down(exc)
            await asyncio.sleep(RECONNECT_S)

    async def _session(self, on_connect: Callable[[], Awaitable[None]], on_message: Callable[[bytes], None]) -> None:
        pubsub = self.client.pubsub()
        try:
            async with asyncio.timeout(RESYNC_TIMEOUT_S):
                await pubsub.subscribe(self.channel)
                await on_connect()
            self._mark_up()
            while self._up.is_set() and not self._closing:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=PROBE_S)
                if message is not None:
                    on_message(message["data"])
                elif self._up.is_set() and not self._closing:
                    async with asyncio.timeout(self._timeout):
                        await self.client.ping()
        finally:
            with contextlib.suppress(*FAILURES):
                async with asyncio.timeout(self._timeout):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def aclose(self, maintainer: asyncio.Task[None]) -> None:
        """Stop ``maintainer`` and every background call, then close the client."""
        self._closing = True
        self._up.clear()
        for task in (maintainer, *self._tasks):
            task.cancel()
        # redis-py can swallow a cancellation that lands in a pub/sub read; the loop then ends at its next check.
        await asyncio.wait((maintainer, *self._tasks), timeout=PROBE_S + self._timeout + 1.0)
        with contextlib.suppress(*FAILURES):
            await self.client.aclose()

    def _mark_up(self) -> None:
        _log.info(
            "shared_state_reachable", effect="cooldowns, rpm/tpm budgets and stored responses are shared through Redis"
        )
        self._down_reported = False
        self._metrics.shared_state_up.set(1)
        self._up.set()


class SharedCooldowns(Cooldowns):
    """``Cooldowns`` whose cooldowns reach every replica (module docstring)."""

    def __init__(self, seconds: float, threshold: int, link: RedisLink, clock: Clock = time.monotonic) -> None:
        super().__init__(seconds, threshold, clock)
        self._link = link
        self._script = link.client.register_script(_COOL)

    def _cool(self, name: str, seconds: float) -> None:
        super()._cool(name, seconds)
        self._link.spawn(lambda: self._share(name, seconds))

    async def _share(self, name: str, seconds: float) -> None:
        key = self._link.prefix + "cooldown:" + name
        await self._script(keys=[key], args=[max(1, round(seconds * 1000)), self._link.channel, name])

    def heard(self, data: bytes) -> None:
        """A cooldown published by a replica (this one included): ``b"<ms left> <name>"``."""
        milliseconds, _, name = data.partition(b" ")
        with contextlib.suppress(ValueError):
            self.extend(name.decode(), int(milliseconds) / 1000)

    async def resync(self) -> None:
        """After (re)connecting: every replica's cooldowns into ours, then ours (some started while Redis was
        away) into Redis."""
        prefix = self._link.prefix + "cooldown:"
        client = self._link.client
        keys = [key async for key in client.scan_iter(match=_glob_escape(prefix) + "*", count=500)]
        if keys:
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.pttl(key)
                left = await pipe.execute()
            for key, milliseconds in zip(keys, left, strict=True):
                if milliseconds > 0:
                    self.extend(key.decode()[len(prefix) :], milliseconds / 1000)
        for name, seconds in self.cooling().items():
            await self._share(name, seconds)


class SharedBudgets(RateBudgets):
    """``RateBudgets`` counted in Redis for all replicas; per process (from the last shared window seen) while
    Redis is away."""

    def __init__(self, link: RedisLink, clock: Clock = time.monotonic) -> None:
        super().__init__(clock)
        self._link = link
        self._script = link.client.register_script(_TAKE)

    async def take(self, name: str, rpm: int | None, tpm: int | None, tokens: int) -> None:
        key = self._link.prefix + "budget:" + name
        limits = [-1 if rpm is None else rpm, -1 if tpm is None else tpm, tokens, int(WINDOW_S * 1000)]
        reply = await self._link.call(lambda: self._script(keys=[key], args=limits))
        if reply is None:
            await super().take(name, rpm, tpm, tokens)
            return
        taken, requests, spent, milliseconds_left = (int(value) for value in reply)
        self.mirror(name, requests, spent, milliseconds_left / 1000)
        if not taken:
            raise BudgetExhausted(name, milliseconds_left / 1000)


class SharedCapacity:
    """The link, the shared cooldowns and budgets, and the maintainer task: built in the lifespan."""

    def __init__(self, link: RedisLink, cooldowns: SharedCooldowns, budgets: SharedBudgets) -> None:
        self.link = link
        self.cooldowns = cooldowns
        self.budgets = budgets
        self._maintainer: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, settings: Settings, metrics: Metrics) -> SharedCapacity:
        """Connect to ``settings.redis_url``, waiting at most ``STARTUP_WAIT_S`` (an unreachable Redis does not
        stop the proxy: it serves per process until Redis answers)."""
        link = RedisLink.open(settings, metrics)
        cooldowns = SharedCooldowns(settings.cooldown_s, settings.failure_threshold, link)
        shared = cls(link, cooldowns, SharedBudgets(link))
        shared._maintainer = asyncio.get_running_loop().create_task(link.maintain(cooldowns.resync, cooldowns.heard))
        await link.wait_up(STARTUP_WAIT_S)
        return shared

    async def aclose(self) -> None:
        if self._maintainer is not None:
            await self.link.aclose(self._maintainer)


def _glob_escape(text: str) -> str:
    """``text`` matched literally by a Redis ``MATCH`` pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
