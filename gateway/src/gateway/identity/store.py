"""The token state every gateway replica must share: logins (refresh-token families) and failed-login counters.

``TokenStore`` is the contract; ``MemoryTokenStore`` keeps it in the process (development, one gateway) and
``RedisTokenStore`` (``redis_store.py``) in Redis for several replicas (ADR 0007).

A family is one login. Its refresh token rotates on every use: the store keeps only the digest of the current
token, and a rotation is a compare-and-set on it, so of two requests presenting the same token exactly one wins,
whichever replica each reaches. A token that is not the current one (it was used before) revokes the whole family:
either the client or a thief holds a copy, and the store cannot tell which (RFC 6819 §5.2.2.3, OAuth 2.0 Security
BCP §4.14). A revoked family stays known until it expires, so its tokens keep being refused.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class TokenStoreUnavailable(Exception):
    """The shared store cannot be reached: no token can be issued or checked (the caller answers 503, never a
    login failure, so a client keeps its tokens and tries again)."""


@dataclass(frozen=True, slots=True)
class Family:
    """What a login was granted to: the subject, the OAuth client, the version of the user's password."""

    subject: str
    client_id: str
    user_version: str


class Rotation(enum.Enum):
    ROTATED = "rotated"  # the presented token was the current one; the replacement is current now
    REUSED = "reused"  # an earlier token of the family, or a revoked family: the family is revoked
    UNKNOWN = "unknown"  # no such family (never issued, or expired)


class TokenStore(Protocol):
    """Shared token state. Every method is atomic across replicas; ``ttl`` and ``window`` are seconds."""

    async def open_family(self, family_id: str, family: Family, digest: str, ttl: float) -> None:
        """Record a new login whose current refresh token has ``digest``."""

    async def rotate(
        self, family_id: str, presented: str, replacement: str, ttl: float
    ) -> tuple[Rotation, Family | None]:
        """Replace the current digest ``presented`` by ``replacement`` (the family then lives ``ttl`` more);
        any other digest revokes the family. The family is returned when it is known."""

    async def is_active(self, family_id: str) -> bool:
        """Whether the login exists and is not revoked (checked for every access token)."""

    async def revoke(self, family_id: str) -> None:
        """End the login: its refresh tokens are refused from now on, its access tokens too."""

    async def failures(self, key: str) -> tuple[int, float]:
        """Failed attempts counted under ``key`` in its current window, and the seconds until the window ends."""

    async def add_failure(self, key: str, window: float) -> None:
        """Count one failure; the first failure opens a window of ``window`` seconds."""

    async def clear_failures(self, key: str) -> None:
        """Forget the failures under ``key``."""

    async def aclose(self) -> None:
        """Release connections."""


@dataclass(slots=True)
class _Login:
    family: Family
    digest: str
    revoked: bool
    expires_at: float


class MemoryTokenStore:
    """``TokenStore`` in this process: correct for one gateway; several replicas need ``RedisTokenStore``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._logins: dict[str, _Login] = {}
        self._failures: dict[str, tuple[int, float]] = {}
        self._prune_at = 1024  # expired entries are dropped whenever the tables double

    async def open_family(self, family_id: str, family: Family, digest: str, ttl: float) -> None:
        self._prune()
        self._logins[family_id] = _Login(family, digest, False, self._clock() + ttl)

    async def rotate(
        self, family_id: str, presented: str, replacement: str, ttl: float
    ) -> tuple[Rotation, Family | None]:
        login = self._live(family_id)
        if login is None:
            return Rotation.UNKNOWN, None
        if login.revoked or login.digest != presented:
            login.revoked = True
            return Rotation.REUSED, login.family
        login.digest = replacement
        login.expires_at = self._clock() + ttl
        return Rotation.ROTATED, login.family

    async def is_active(self, family_id: str) -> bool:
        login = self._live(family_id)
        return login is not None and not login.revoked

    async def revoke(self, family_id: str) -> None:
        login = self._live(family_id)
        if login is not None:
            login.revoked = True

    async def failures(self, key: str) -> tuple[int, float]:
        count, ends_at = self._failures.get(key, (0, 0.0))
        remaining = ends_at - self._clock()
        return (count, remaining) if remaining > 0 else (0, 0.0)

    async def add_failure(self, key: str, window: float) -> None:
        self._prune()
        count, remaining = await self.failures(key)
        ends_at = self._clock() + (remaining if count else window)
        self._failures[key] = (count + 1, ends_at)

    async def clear_failures(self, key: str) -> None:
        self._failures.pop(key, None)

    async def aclose(self) -> None:
        return None

    def _live(self, family_id: str) -> _Login | None:
        login = self._logins.get(family_id)
        return login if login is not None and login.expires_at > self._clock() else None

    def _prune(self) -> None:
        if len(self._logins) + len(self._failures) < self._prune_at:
            return
        now = self._clock()
        self._logins = {k: v for k, v in self._logins.items() if v.expires_at > now}
        self._failures = {k: v for k, v in self._failures.items() if v[1] > now}
        self._prune_at = max(1024, 2 * (len(self._logins) + len(self._failures)))
