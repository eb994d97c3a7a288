"""The token store contract (rotation, reuse detection, revocation, failure windows) for every implementation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from conftest import REDIS_URL
from gateway.identity.redis_store import RedisTokenStore
from gateway.identity.store import Family, MemoryTokenStore, Rotation, TokenStore, TokenStoreUnavailable

ALICE = Family("alice", "codelab-flutter-app", "v1")
DAY = 86_400.0


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[TokenStore]:
    if request.param == "memory":
        made: TokenStore = MemoryTokenStore()
    else:
        made = RedisTokenStore(REDIS_URL, request.getfixturevalue("redis_prefix"))
    yield made
    await made.aclose()


async def test_a_rotation_replaces_the_current_token(store: TokenStore) -> None:
    await store.open_family("fam-1", ALICE, "d1", DAY)
    assert await store.rotate("fam-1", "d1", "d2", DAY) == (Rotation.ROTATED, ALICE)
    assert await store.rotate("fam-1", "d2", "d3", DAY) == (Rotation.ROTATED, ALICE)
    assert await store.is_active("fam-1")


async def test_an_old_token_revokes_the_whole_family(store: TokenStore) -> None:
    await store.open_family("fam-1", ALICE, "d1", DAY)
    await store.rotate("fam-1", "d1", "d2", DAY)
    assert await store.rotate("fam-1", "d1", "x", DAY) == (Rotation.REUSED, ALICE)
    assert not await store.is_active("fam-1")
    # The current token of a revoked family is refused too: the thief and the client both lose it.
    assert (await store.rotate("fam-1", "d2", "d3", DAY))[0] is Rotation.REUSED


async def test_of_two_concurrent_rotations_of_one_token_exactly_one_wins(store: TokenStore) -> None:
    await store.open_family("fam-1", ALICE, "d1", DAY)
    outcomes = await asyncio.gather(*(store.rotate("fam-1", "d1", f"n{i}", DAY) for i in range(5)))
    assert sorted(o[0].value for o in outcomes) == ["reused"] * 4 + ["rotated"]
    assert not await store.is_active("fam-1")


async def test_an_unknown_family_is_unknown(store: TokenStore) -> None:
    assert await store.rotate("nope", "d1", "d2", DAY) == (Rotation.UNKNOWN, None)
    assert not await store.is_active("nope")
    await store.revoke("nope")  # nothing to revoke, no error


async def test_families_are_independent(store: TokenStore) -> None:
    await store.open_family("fam-1", ALICE, "d1", DAY)
    await store.open_family("fam-2", Family("bob", "cli", "v9"), "d1", DAY)
    await store.revoke("fam-1")
    assert not await store.is_active("fam-1")
    assert await store.rotate("fam-2", "d1", "d2", DAY) == (Rotation.ROTATED, Family("bob", "cli", "v9"))


async def test_failures_count_within_a_window_and_clear(store: TokenStore) -> None:
    assert await store.failures("k") == (0, 0.0)
    for _ in range(3):
        await store.add_failure("k", 60)
    count, remaining = await store.failures("k")
    assert count == 3
    assert 0 < remaining <= 60
    await store.clear_failures("k")
    assert (await store.failures("k"))[0] == 0
    assert (await store.failures("other"))[0] == 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_families_and_windows_expire_in_the_memory_store() -> None:
    clock = Clock()
    store = MemoryTokenStore(clock)
    await store.open_family("fam-1", ALICE, "d1", 100)
    await store.add_failure("k", 50)
    clock.now += 60
    assert await store.failures("k") == (0, 0.0)
    assert await store.rotate("fam-1", "d1", "d2", 100) == (Rotation.ROTATED, ALICE)  # the use extends its life
    clock.now += 99
    assert await store.is_active("fam-1")
    clock.now += 2
    assert await store.rotate("fam-1", "d2", "d3", 100) == (Rotation.UNKNOWN, None)


async def test_redis_families_and_windows_carry_their_expiry(redis_prefix: str) -> None:
    store = RedisTokenStore(REDIS_URL, redis_prefix)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        await store.open_family("fam-1", ALICE, "d1", 100)
        await store.add_failure("k", 50)
        family_ttl = await client.pttl(f"{redis_prefix}family:fam-1")
        window_ttl = await client.pttl(f"{redis_prefix}k")
        assert 90_000 < family_ttl <= 100_000
        assert 40_000 < window_ttl <= 50_000
        await store.rotate("fam-1", "d1", "d2", 1000)
        assert await client.pttl(f"{redis_prefix}family:fam-1") > 900_000  # a use extends the login
        await store.revoke("gone")  # revoking an unknown family creates nothing
        assert await client.exists(f"{redis_prefix}family:gone") == 0
        stored = await client.hgetall(f"{redis_prefix}family:fam-1")
        assert b"d2" in stored.values()  # digests only: the store never sees a token
    finally:
        await client.aclose()
        await store.aclose()


async def test_an_unreachable_redis_is_unavailable_not_a_refusal() -> None:
    store = RedisTokenStore("redis://127.0.0.1:9/0", "x:")
    try:
        for call in (store.is_active("f"), store.rotate("f", "a", "b", 10), store.failures("k")):
            with pytest.raises(TokenStoreUnavailable):
                await call
    finally:
        await store.aclose()
