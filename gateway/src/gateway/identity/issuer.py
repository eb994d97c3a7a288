"""The two grants of ``/oauth/token``: a password login opens a family, a refresh rotates it (RFC 6749 §4.3, §6).

Errors are ``OAuthError`` in the shape of RFC 6749 §5.2; their descriptions never contain a credential.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.identity.directory import Directory
from gateway.identity.store import Family, Rotation, TokenStore
from gateway.identity.throttle import LoginThrottle
from gateway.identity.tokens import AccessClaims, AccessTokens, IssuedToken, RefreshToken

REFUSED_LOGIN = "invalid username or password"
REFUSED_REFRESH = "the refresh token is invalid, expired or revoked; log in again"


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``error`` is the code, ``description`` is safe to show."""

    def __init__(self, status: int, error: str, description: str, retry_after: float | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


@dataclass(frozen=True, slots=True)
class Grant:
    """A successful answer: what the IDE stores (RFC 6749 §5.1, plus ``issued_at`` which the IDE needs to ever
    consider its token expired)."""

    access: IssuedToken
    refresh: RefreshToken
    scope: str | None

    def body(self) -> dict[str, Any]:
        issued_at = datetime.fromtimestamp(self.access.issued_at, UTC).isoformat().replace("+00:00", "Z")
        body: dict[str, Any] = {
            "access_token": self.access.token,
            "token_type": "Bearer",
            "expires_in": self.access.expires_in,
            "refresh_token": self.refresh.encoded(),
            "issued_at": issued_at,
        }
        if self.scope:
            body["scope"] = self.scope
        return body


class TokenIssuer:
    """Checks a grant and answers with fresh tokens."""

    def __init__(
        self,
        access: AccessTokens,
        store: TokenStore,
        directory: Directory,
        *,
        refresh_lifetime: float,
        throttle: LoginThrottle | None,
    ) -> None:
        self._access = access
        self._store = store
        self._directory = directory
        self._refresh_lifetime = refresh_lifetime
        self._throttle = throttle

    async def password(self, username: str, password: str, client_id: str, scope: str | None, address: str) -> Grant:
        """A login: the user's password against the directory, within the failed-login limits."""
        if self._throttle is not None:
            wait = await self._throttle.retry_after(username, address)
            if wait is not None:
                raise OAuthError(429, "slow_down", "too many failed logins; try again later", retry_after=wait)
        version = await self._directory.verify(username, password)
        if version is None:
            if self._throttle is not None:
                await self._throttle.failed(username, address)
            raise OAuthError(400, "invalid_grant", REFUSED_LOGIN)
        if self._throttle is not None:
            await self._throttle.succeeded(username)
        family = Family(username, client_id, version)
        refresh = RefreshToken.new()
        await self._store.open_family(refresh.family, family, refresh.digest, self._refresh_lifetime)
        return self._grant(family, refresh, scope)

    async def refresh(self, presented: str, client_id: str, scope: str | None) -> Grant:
        """A refresh: the token rotates; an old token revokes the login; so do a changed password and another
        client presenting the token."""
        token = RefreshToken.parse(presented)
        if token is None:
            raise OAuthError(400, "invalid_grant", REFUSED_REFRESH)
        replacement = RefreshToken.new(token.family)
        outcome, family = await self._store.rotate(
            token.family, token.digest, replacement.digest, self._refresh_lifetime
        )
        if outcome is not Rotation.ROTATED or family is None:
            raise OAuthError(400, "invalid_grant", REFUSED_REFRESH)
        if family.client_id != client_id or self._directory.version_of(family.subject) != family.user_version:
            await self._store.revoke(token.family)
            raise OAuthError(400, "invalid_grant", REFUSED_REFRESH)
        return self._grant(family, replacement, scope)

    def _grant(self, family: Family, refresh: RefreshToken, scope: str | None) -> Grant:
        claims = AccessClaims(family.subject, refresh.family, family.user_version)
        return Grant(self._access.mint(claims), refresh, scope)
