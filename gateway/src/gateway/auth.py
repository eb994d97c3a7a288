"""Who is calling: the auth modes behind one ``Authenticator`` and where credentials are found.

A principal's ``subject`` is passed to the runtime as ``X-Subject``; the runtime owns sessions per subject. A
caller without credentials in mode ``none`` has no subject, so the runtime applies no ownership checks
(development only). Every protocol (the IDE's REST and WebSocket, ACP's ``authenticate``) hands the credential it
found to the same ``Authenticator``: a Bearer header, the ``bearer`` WebSocket sub-protocol, or a token given later.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import jwt

from gateway.identity.directory import Directory
from gateway.identity.store import TokenStore, TokenStoreUnavailable
from gateway.identity.tokens import AccessTokens, InvalidToken
from gateway.jwks import JwksKeys, JwksUnavailable
from service_kit.subject import InvalidSubject, check_subject

BEARER_SUBPROTOCOL = "bearer"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller; ``subject`` None means anonymous (auth mode ``none``)."""

    subject: str | None


class AuthFailed(Exception):
    """Credentials missing or invalid; the message is safe to show (it never contains the credential)."""


class AuthUnavailable(Exception):
    """The credential cannot be checked now (the shared token store is down): answer 503 / close 1013, never a
    401 that would make a client throw its tokens away."""


class Authenticator(Protocol):
    """Turns a presented credential (or None) into a principal, or raises ``AuthFailed``."""

    async def authenticate(self, credential: str | None) -> Principal: ...


class OpenAuth:
    """Mode ``none``: a caller without credentials is anonymous; one that presents a token (from this gateway's
    ``/oauth/token``, where any username logs in) is its subject, so two people on a dev stack have their own
    sessions. A presented token that is not valid is refused, so a client knows to log in again."""

    def __init__(self, issued: Authenticator) -> None:
        self._issued = issued

    async def authenticate(self, credential: str | None) -> Principal:
        if credential is None:
            return Principal(None)
        return await self._issued.authenticate(credential)


class IssuedTokenAuth:
    """The access tokens this gateway issued (modes ``none`` and ``local``): signature and expiry, then whether the
    login still holds (not revoked, and issued under the user's current password)."""

    def __init__(self, access: AccessTokens, store: TokenStore, directory: Directory) -> None:
        self._access = access
        self._store = store
        self._directory = directory

    async def authenticate(self, credential: str | None) -> Principal:
        if not credential:
            raise AuthFailed("missing credentials")
        try:
            claims = self._access.verify(credential)
        except InvalidToken as exc:
            raise AuthFailed(str(exc)) from None
        if self._directory.version_of(claims.subject) != claims.user_version:
            raise AuthFailed("token revoked")
        try:
            active = await self._store.is_active(claims.family)
        except TokenStoreUnavailable as exc:
            raise AuthUnavailable(str(exc)) from None
        if not active:
            raise AuthFailed("token revoked")
        return Principal(claims.subject)


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
        self._algorithms = [a for a in algorithms if a.startswith(("RS", "ES", "PS")) or a == "EdDSA"]  # never HS
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
            subject = check_subject(claims["sub"])  # a blank subject would switch off every ownership check
        except JwksUnavailable as exc:
            raise AuthFailed("token keys unavailable") from exc
        except jwt.ExpiredSignatureError as exc:
            raise AuthFailed("token expired") from exc
        except InvalidSubject as exc:
            raise AuthFailed(f"invalid token: {exc}") from None
        except (jwt.PyJWTError, TypeError, ValueError, AttributeError) as exc:
            raise AuthFailed("invalid token") from exc
        return Principal(subject)


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
