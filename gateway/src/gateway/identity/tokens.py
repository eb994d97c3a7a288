"""The gateway's access tokens: short-lived ES256 JWTs, and the opaque refresh tokens that renew them.

An access token carries ``sub``, ``iat``, ``exp``, ``jti``, ``iss`` and ``aud`` (so the ``jwt`` mode of another
gateway, or any JWT library, can verify it through ``/.well-known/jwks.json``), plus two claims this gateway checks
on every use: ``sid``, the login (refresh-token family) it belongs to, which may have been revoked since, and
``uv``, the version of the user's password it was issued under (a changed password or a removed user ends it).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt

from gateway.identity.keys import ALGORITHM, SigningKeys
from service_kit.subject import InvalidSubject, check_subject

LEEWAY = 30.0  # seconds of clock skew between replicas tolerated on exp and iat


class InvalidToken(Exception):
    """Not a valid access token of this gateway; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: str
    family: str
    user_version: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    issued_at: int  # seconds since the epoch
    expires_in: int  # seconds


class AccessTokens:
    """Mints and verifies the gateway's access tokens."""

    def __init__(
        self,
        keys: SigningKeys,
        *,
        issuer: str,
        audience: str,
        lifetime: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._lifetime = lifetime
        self._clock = clock

    def mint(self, claims: AccessClaims) -> IssuedToken:
        now = int(self._clock())
        body = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": claims.subject,
            "iat": now,
            "exp": now + self._lifetime,
            "jti": uuid.uuid4().hex,
            "sid": claims.family,
            "uv": claims.user_version,
        }
        token = jwt.encode(body, self._keys.private, algorithm=ALGORITHM, headers={"kid": self._keys.kid})
        return IssuedToken(token, now, self._lifetime)

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid, unexpired token signed by one of the gateway's keys; ``InvalidToken`` otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.public_key(str(header.get("kid")))
            if header.get("alg") != ALGORITHM or key is None:
                raise InvalidToken("invalid token")
            body = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
            )
            claims = AccessClaims(check_subject(body["sub"]), str(body["sid"]), str(body["uv"]))
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except (jwt.PyJWTError, InvalidSubject, KeyError, TypeError, AttributeError, ValueError):
            raise InvalidToken("invalid token") from None
        return claims


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """``<family>.<secret>``: the family names the login; only the secret's digest is ever stored."""

    family: str
    secret: str = field(repr=False)

    @classmethod
    def new(cls, family: str | None = None) -> RefreshToken:
        return cls(family or secrets.token_urlsafe(16), secrets.token_urlsafe(32))

    @classmethod
    def parse(cls, value: str) -> RefreshToken | None:
        family, dot, secret = value.partition(".")
        if not (dot and 16 <= len(family) <= 64 and 32 <= len(secret) <= 128 and value.isascii()):
            return None
        return cls(family, secret)

    def encoded(self) -> str:
        """The token as the client holds it."""
        return f"{self.family}.{self.secret}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.secret.encode()).hexdigest()
