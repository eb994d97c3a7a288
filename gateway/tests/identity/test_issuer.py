"""The password and refresh grants: rotation, reuse detection, revocation, throttling, the same answer for every
refused login."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.auth import AuthFailed, IssuedTokenAuth
from gateway.identity.directory import OpenDirectory
from gateway.identity.issuer import REFUSED_LOGIN, REFUSED_REFRESH, Grant, OAuthError, TokenIssuer
from gateway.identity.keys import load_signing_keys
from gateway.identity.store import MemoryTokenStore
from gateway.identity.throttle import LoginThrottle
from gateway.identity.tokens import AccessTokens

CLIENT = "codelab-flutter-app"


class Directory:
    """Alice with password "right"; her version changes when the password does."""

    def __init__(self) -> None:
        self.users = {"alice": ("right", "v1")}

    async def verify(self, username: str, password: str) -> str | None:
        found = self.users.get(username)
        return found[1] if found is not None and found[0] == password else None

    def version_of(self, subject: str) -> str | None:
        found = self.users.get(subject)
        return found[1] if found else None


class Parts:
    def __init__(self, tmp_path: Path, throttle: bool = False) -> None:
        self.store = MemoryTokenStore()
        self.directory = Directory()
        access = AccessTokens(load_signing_keys(tmp_path / "k.pem", []), issuer="i", audience="a", lifetime=900)
        limits = LoginThrottle(self.store, per_user=3, per_address=5, window=60) if throttle else None
        self.issuer = TokenIssuer(access, self.store, self.directory, refresh_lifetime=3600, throttle=limits)
        self.auth = IssuedTokenAuth(access, self.store, self.directory)

    async def login(self, username: str = "alice", password: str = "right", address: str = "10.0.0.1") -> Grant:
        return await self.issuer.password(username, password, CLIENT, None, address)


async def refused(awaitable: object) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        await awaitable  # type: ignore[misc]
    return caught.value


async def test_a_login_answers_what_the_ide_parses(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    body = (await parts.issuer.password("alice", "right", CLIENT, "openid", "10.0.0.1")).body()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "issued_at", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["issued_at"].endswith("Z")
    assert "T" in body["issued_at"]
    assert body["scope"] == "openid"
    assert (await parts.auth.authenticate(body["access_token"])).subject == "alice"


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    wrong = await refused(parts.login(password="wrong"))
    unknown = await refused(parts.login(username="mallory"))
    assert (
        (wrong.status, wrong.body())
        == (unknown.status, unknown.body())
        == (
            400,
            {"error": "invalid_grant", "error_description": REFUSED_LOGIN},
        )
    )


async def test_a_refresh_rotates_and_the_old_token_then_revokes_the_login(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    first = await parts.login()
    second = await parts.issuer.refresh(first.refresh.encoded(), CLIENT, None)
    assert second.refresh.family == first.refresh.family
    assert second.refresh.encoded() != first.refresh.encoded()
    assert (await parts.auth.authenticate(second.access.token)).subject == "alice"
    reuse = await refused(parts.issuer.refresh(first.refresh.encoded(), CLIENT, None))
    assert reuse.body() == {"error": "invalid_grant", "error_description": REFUSED_REFRESH}
    # The whole family is gone: the newest refresh token and every access token of this login.
    await refused(parts.issuer.refresh(second.refresh.encoded(), CLIENT, None))
    for grant in (first, second):
        with pytest.raises(AuthFailed, match="token revoked"):
            await parts.auth.authenticate(grant.access.token)


async def test_another_login_survives_the_revocation_of_one(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    laptop, desktop = await parts.login(), await parts.login()
    await parts.issuer.refresh(laptop.refresh.encoded(), CLIENT, None)
    await refused(parts.issuer.refresh(laptop.refresh.encoded(), CLIENT, None))
    assert (await parts.issuer.refresh(desktop.refresh.encoded(), CLIENT, None)).access.token


async def test_a_changed_password_ends_every_login_of_the_user(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    grant = await parts.login()
    parts.directory.users["alice"] = ("new", "v2")
    with pytest.raises(AuthFailed, match="token revoked"):
        await parts.auth.authenticate(grant.access.token)
    await refused(parts.issuer.refresh(grant.refresh.encoded(), CLIENT, None))
    assert not await parts.store.is_active(grant.refresh.family)
    assert (await parts.login(password="new")).access.token


async def test_a_refresh_token_presented_by_another_client_revokes_the_login(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    grant = await parts.login()
    await refused(parts.issuer.refresh(grant.refresh.encoded(), "someone-else", None))
    await refused(parts.issuer.refresh(grant.refresh.encoded(), CLIENT, None))


@pytest.mark.parametrize("token", ["", "garbage", "a" * 20 + "." + "b" * 43])
async def test_a_made_up_refresh_token_is_an_invalid_grant(tmp_path: Path, token: str) -> None:
    assert (await refused(Parts(tmp_path).issuer.refresh(token, CLIENT, None))).error == "invalid_grant"


async def test_failed_logins_are_throttled_per_username_then_per_address(tmp_path: Path) -> None:
    parts = Parts(tmp_path, throttle=True)
    for _ in range(3):
        await refused(parts.login(password="wrong"))
    limited = await refused(parts.login())  # even the right password waits now
    assert (limited.status, limited.error) == (429, "slow_down")
    assert 1 <= int(limited.headers()["Retry-After"]) <= 60
    unknown = [await refused(parts.login(username="ghost", address="10.0.0.2")) for _ in range(4)]
    assert [e.status for e in unknown] == [400, 400, 400, 429]  # unknown names are counted like real ones
    # The address 10.0.0.1 has 3 failures (of 5): two more on other names close it for everyone there.
    for name in ("x", "y"):
        await refused(parts.login(username=name))
    assert (await refused(parts.login(username="z"))).status == 429
    # A username's limit holds from every address (a distributed guess at one password is still slowed).
    assert (await refused(parts.login(address="10.0.0.3"))).status == 429


async def test_a_successful_login_clears_the_usernames_failures(tmp_path: Path) -> None:
    parts = Parts(tmp_path, throttle=True)
    for _ in range(2):
        await refused(parts.login(password="wrong"))
    await parts.login()
    for _ in range(2):
        await refused(parts.login(password="wrong"))
    assert (await parts.login()).access.token


async def test_in_mode_none_any_username_logs_in_and_becomes_the_subject(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    access = AccessTokens(load_signing_keys(None, []), issuer="i", audience="a", lifetime=900)
    open_issuer = TokenIssuer(access, parts.store, OpenDirectory(), refresh_lifetime=60, throttle=None)
    auth = IssuedTokenAuth(access, parts.store, OpenDirectory())
    grant = await open_issuer.password("用户", "anything", CLIENT, None, "")
    assert (await auth.authenticate(grant.access.token)).subject == "用户"
    blank = await refused(open_issuer.password(" ", "x", CLIENT, None, ""))
    assert blank.error == "invalid_grant"
