"""Signing keys of the OAuth server, fetched from its JWKS URL with the gateway's aiohttp session and cached.

PyJWT's ``PyJWKClient`` fetches with blocking ``urllib``; on the event loop that would stall every socket during a
fetch, so the fetch is ours and PyJWT only parses the key set.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import jwt
import orjson


class JwksUnavailable(Exception):
    """The key set could not be fetched or parsed (the token cannot be checked, so it is refused)."""


class JwksKeys:
    """``kid`` → verification key. Keys are trusted for ``ttl`` seconds; an unknown ``kid`` (a rotation) refetches,
    but at most once per ``min_refresh`` seconds so a flood of forged kids cannot hammer the OAuth server."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        *,
        ttl: float,
        min_refresh: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = url
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        """The key named ``kid`` (or the only key when the token names none)."""
        key = self._lookup(kid) if self._fresh() else None
        if key is not None:
            return key
        async with self._lock:
            key = self._lookup(kid) if self._fresh() else None
            if key is None and self._may_refresh():
                await self._fetch()
                key = self._lookup(kid)
        if key is None:
            raise jwt.InvalidTokenError("no signing key matches the token")
        return key

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _fresh(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at < self._ttl

    def _may_refresh(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._min_refresh

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            async with self._http.get(self._url, timeout=aiohttp.ClientTimeout(total=5)) as response:
                if response.status != 200:
                    raise JwksUnavailable(f"JWKS answered HTTP {response.status}")
                document = orjson.loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise JwksUnavailable(f"JWKS unavailable: {type(exc).__name__}") from exc
        keys: dict[str, jwt.PyJWK] = {}
        for n, entry in enumerate(document.get("keys", []) if isinstance(document, dict) else []):
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError, KeyError, TypeError, ValueError):
                continue  # a key of a type we do not use must not hide the others
            keys[key.key_id or f"#{n}"] = key
        self._keys = keys
        self._fetched_at = self._clock()
