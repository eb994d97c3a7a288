"""Who is calling: the three auth modes behind one ``Authenticator`` and where credentials are found.

A principal's ``subject`` is passed to the runtime as ``X-Subject``; the runtime owns sessions per subject.
``none`` yields no subject, so the runtime applies no ownership checks (development only).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import jwt

from gateway.jwks import JwksKeys, JwksUnavailable

BEARER_SUBPROTOCOL = "bearer"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller; ``subject`` None means anonymous (auth mode ``none``)."""

    subject: str | None


class AuthFailed(Exception):
    """Credentials missing or invalid; the message is safe to show (it never contains the credential)."""


class Authenticator(Protocol):
    """Turns a presented credential (or None) into a principal, or raises ``AuthFailed``."""

    async def authenticate(self, credential: str | None) -> Principal: ...


class OpenAuth:
    """Mode ``none``: everyone is the anonymous principal."""

    async def authenticate(self, credential: str | None) -> Principal:
        return Principal(None)


class TokenAuth:
    """Mode ``token``: static bearer tokens, each mapped to a subject.

    Every configured token is compared, with ``hmac.compare_digest``, whatever matched first, so timing tells nothing
    about which token (or which prefix) was close.
    """

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = [(token.encode(), subject) for token, subject in table.items()]

    async def authenticate(self, credential: str | None) -> Principal:
        if not credential:
            raise AuthFailed("missing credentials")
        presented = credential.encode()
        found: str | None = None
        for token, subject in self._table:
            if hmac.compare_digest(presented, token) and found is None:
                found = subject
        if found is None:
            raise AuthFailed("invalid credentials")
        return Principal(found)


class JwtAuth:
    """Mode ``jwt``: RS256/ES256 tokens of the IDE's OAuth server, checked against its JWKS, issuer and audience."""

    def __init__(self, keys: JwksKeys, *, issuer: str, audience: str, algorithms: Iterable[str], leeway: float) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._algorithms = [a for a in algorithms if a.startswith(("RS", "ES", "PS"))]  # never HS or none
        self._leeway = leeway

    async def authenticate(self, credential: str | None) -> Principal:
        if not credential:
            raise AuthFailed("missing credentials")
        try:
            header = jwt.get_unverified_header(credential)
            if header.get("alg") not in self._algorithms:
                raise AuthFailed("token algorithm not accepted")
            key = await self._keys.key_for(header.get("kid"))
            if key.algorithm_name != header["alg"]:
                raise AuthFailed("invalid token")  # a kid naming a key of another type: never try it
            claims = jwt.decode(
                credential,
                key.key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except JwksUnavailable as exc:
            raise AuthFailed("token keys unavailable") from exc
        except jwt.ExpiredSignatureError as exc:
            raise AuthFailed("token expired") from exc
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise AuthFailed("invalid token") from exc
        return Principal(str(claims["sub"]))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def subprotocol_token(offered: list[str]) -> tuple[str | None, str | None]:
    """A token carried in ``Sec-WebSocket-Protocol`` as ``bearer, <token>`` or ``bearer.<token>``.

    Returns the token and the subprotocol to accept: ``bearer`` if offered, never the token itself.
    """
    for n, value in enumerate(offered):
        if value.lower() == BEARER_SUBPROTOCOL and n + 1 < len(offered):
            return offered[n + 1], value
        if value.lower().startswith(BEARER_SUBPROTOCOL + "."):
            return value[len(BEARER_SUBPROTOCOL) + 1 :], None
    return None, None
