"""The gateway as its own identity provider (modes ``none`` and ``local``), built from the settings in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.auth import IssuedTokenAuth
from gateway.identity.directory import Directory, OpenDirectory
from gateway.identity.issuer import TokenIssuer
from gateway.identity.keys import SigningKeys, load_signing_keys
from gateway.identity.store import MemoryTokenStore, TokenStore
from gateway.identity.tokens import AccessTokens
from gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class Identity:
    keys: SigningKeys
    issuer: TokenIssuer
    tokens: IssuedTokenAuth
    store: TokenStore

    async def aclose(self) -> None:
        await self.store.aclose()


def build_identity(settings: Settings) -> Identity:
    """Keys (created on first start when a key file is named), the token store, the directory, the issuer."""
    key_file = Path(settings.signing_key_file) if settings.signing_key_file else None
    keys = load_signing_keys(key_file, [Path(p) for p in settings.signing_keys_previous])
    store: TokenStore = MemoryTokenStore()
    directory: Directory = OpenDirectory()
    access = AccessTokens(
        keys, issuer=settings.token_issuer, audience=settings.token_audience, lifetime=settings.access_token_seconds
    )
    issuer = TokenIssuer(access, store, directory, refresh_lifetime=settings.refresh_token_seconds, throttle=None)
    return Identity(keys, issuer, IssuedTokenAuth(access, store, directory), store)
