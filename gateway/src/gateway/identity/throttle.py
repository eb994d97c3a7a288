"""Failed logins are counted per username and per client address in the shared store; past a limit, logins from
there wait (429 with ``Retry-After``) until the window ends. Unknown usernames count like known ones, so the
answer never tells which names exist."""

from __future__ import annotations

import hashlib

from gateway.identity.store import TokenStore


class LoginThrottle:
    def __init__(self, store: TokenStore, *, per_user: int, per_address: int, window: float) -> None:
        self._store = store
        self._limits = (per_user, per_address)
        self._window = window

    async def retry_after(self, username: str, address: str) -> float | None:
        """Seconds to wait when either counter reached its limit; None when a login may be tried."""
        waits = []
        for key, limit in zip(self._keys(username, address), self._limits, strict=True):
            count, remaining = await self._store.failures(key)
            if count >= limit:
                waits.append(remaining)
        return max(waits) if waits else None

    async def failed(self, username: str, address: str) -> None:
        for key in self._keys(username, address):
            await self._store.add_failure(key, self._window)

    async def succeeded(self, username: str) -> None:
        await self._store.clear_failures(self._keys(username, "")[0])

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        # Hashed: a username of any length or content makes a short key, and the store never holds the name.
        user = hashlib.sha256(username.casefold().encode(errors="replace")).hexdigest()[:32]
        return f"login-user:{user}", f"login-address:{address}"
