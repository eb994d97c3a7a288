"""The gateway as its own identity provider (modes ``none`` and ``local``), built from the settings in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog
from argon2 import PasswordHasher

from gateway.auth import IssuedTokenAuth
from gateway.identity.directory import Directory, OpenDirectory
from gateway.identity.issuer import TokenIssuer
from gateway.identity.keys import SigningKeys, load_signing_keys
from gateway.identity.redis_store import RedisTokenStore
from gateway.identity.store import MemoryTokenStore, TokenStore
from gateway.identity.throttle import LoginThrottle
from gateway.identity.tokens import AccessTokens
from gateway.identity.users import LocalDirectory, UsersFile
from gateway.settings import Settings

_log = structlog.get_logger(__name__)


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
    store = _token_store(settings)
    directory: Directory = OpenDirectory()
    throttle = None
    if settings.auth_mode == "local":
        directory = _local_directory(settings)
        throttle = LoginThrottle(
            store,
            per_user=settings.login_failures_per_user,
            per_address=settings.login_failures_per_address,
            window=settings.login_failure_window_seconds,
        )
    access = AccessTokens(
        keys, issuer=settings.token_issuer, audience=settings.token_audience, lifetime=settings.access_token_seconds
    )
    issuer = TokenIssuer(access, store, directory, refresh_lifetime=settings.refresh_token_seconds, throttle=throttle)
    return Identity(keys, issuer, IssuedTokenAuth(access, store, directory), store)


def _token_store(settings: Settings) -> TokenStore:
    url = settings.token_store_url.get_secret_value()
    if url:
        return RedisTokenStore(url, settings.token_store_prefix)
    if settings.auth_mode == "local":
        _log.warning("token store in memory: correct for one gateway only (GATEWAY__TOKEN_STORE_URL for replicas)")
    return MemoryTokenStore()


def _local_directory(settings: Settings) -> LocalDirectory:
    directory = LocalDirectory(UsersFile(Path(settings.users_file)), PasswordHasher())
    if directory.count == 0:
        _log.warning("no users yet: add one with 'python -m gateway users add NAME'", path=settings.users_file)
    return directory
