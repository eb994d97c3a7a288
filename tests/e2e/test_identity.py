"""Mode ``local`` over real processes: users made by the CLI, the IDE's whole flow, refused logins, throttling,
and logins shared by two gateway replicas through the real Redis: rotation, reuse detection and revocation on a
password change or a removal reach both; a third gateway in mode ``jwt`` verifies the tokens through the JWKS."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import PLANTED_KEY
from tests.e2e.ide import CLIENT_ID, Ide, LoggedOut
from tests.e2e.system import Service, System, redis_url, start_gateway, start_system
from tests.e2e.test_ide_login import play_the_ides_flow, refresh_before_expiry_and_after_a_401

# Recognisable, so a leak into any log is unmistakable.
ALICE_PASSWORD = "planted-password-" + secrets.token_hex(8)
NEW_PASSWORD = "planted-new-password-" + secrets.token_hex(8)


def users(file: Path, *arguments: str, password: str | None = None) -> str:
    """``python -m gateway users …`` exactly as an administrator runs it (the password on stdin)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY__")}
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "users", *arguments],
        input=(password or "") + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "GATEWAY__USERS_FILE": str(file)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """The three services with the gateway in mode local, its logins in Redis, and a second gateway replica."""
    workdir = Path(tmp_path_factory.mktemp("local"))
    users(workdir / "users.json", "add", "alice", password=ALICE_PASSWORD)
    users(workdir / "users.json", "add", "bob", password="bobs-password-123")
    env = {
        "GATEWAY__AUTH_MODE": "local",
        "GATEWAY__USERS_FILE": str(workdir / "users.json"),
        "GATEWAY__TOKEN_STORE_URL": redis_url(),
        "GATEWAY__TOKEN_STORE_PREFIX": f"test:{uuid.uuid4().hex[:12]}:",
        "GATEWAY__LOGIN_FAILURES_PER_USER": "3",
    }
    system = start_system(workdir, PLANTED_KEY, env)
    try:
        start_gateway(system, "gateway-2", {})
        yield system
    finally:
        system.stop()


def replica(system: System) -> Service:
    return system.services["gateway-2"]


async def login(base: str, username: str, password: str) -> httpx.Response:
    form = {"grant_type": "password", "username": username, "password": password, "client_id": CLIENT_ID}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        return await http.post("/oauth/token", data=form)


async def refresh(base: str, token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": CLIENT_ID}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        return await http.post("/oauth/token", data=form)


async def sessions(base: str, access_token: str) -> int:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        answer = await http.get("/api/v1/sessions", headers={"Authorization": f"Bearer {access_token}"})
        return answer.status_code


async def test_the_ides_flow_works_with_a_user_made_by_the_cli(local: System) -> None:
    ide = await play_the_ides_flow(local, "alice", ALICE_PASSWORD)
    try:
        await refresh_before_expiry_and_after_a_401(ide, local.workdir / "gateway-signing-key.pem")
    finally:
        await ide.aclose()


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(local: System) -> None:
    wrong = await login(local.gateway.url, "bob", "not-bobs-password")
    unknown = await login(local.gateway.url, "nobody-" + uuid.uuid4().hex, "whatever-password")
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())
    assert wrong.json() == {"error": "invalid_grant", "error_description": "invalid username or password"}
    with pytest.raises(LoggedOut, match="Authentication failed"):
        await Ide(local.gateway.url).login("bob", "not-bobs-password")


async def test_failed_logins_are_throttled_across_replicas(local: System) -> None:
    name = "carol-" + uuid.uuid4().hex[:6]
    users(local.workdir / "users.json", "add", name, password="carols-password")
    bases = [local.gateway.url, replica(local).url, local.gateway.url]
    assert [(await login(base, name, "wrong-password")).status_code for base in bases] == [400, 400, 400]
    limited = await login(replica(local).url, name, "carols-password")  # the right password waits too
    assert limited.status_code == 429
    assert limited.json()["error"] == "slow_down"
    assert 1 <= int(limited.headers["retry-after"]) <= 900


async def test_a_refresh_rotates_on_one_replica_and_reuse_is_caught_on_the_other(local: System) -> None:
    first = (await login(local.gateway.url, "bob", "bobs-password-123")).json()
    second = await refresh(replica(local).url, first["refresh_token"])
    assert second.status_code == 200
    assert await sessions(local.gateway.url, second.json()["access_token"]) == 200
    reused = await refresh(local.gateway.url, first["refresh_token"])
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    # The whole login is revoked, on both replicas: the newest refresh token and the access tokens.
    assert (await refresh(replica(local).url, second.json()["refresh_token"])).status_code == 400
    for base in (local.gateway.url, replica(local).url):
        assert await sessions(base, second.json()["access_token"]) == 401
    assert (await login(replica(local).url, "bob", "bobs-password-123")).status_code == 200  # a new login works


async def test_a_password_change_and_a_removal_end_the_logins_on_both_replicas(local: System) -> None:
    name = "dave-" + uuid.uuid4().hex[:6]
    users(local.workdir / "users.json", "add", name, password="daves-password")
    ide = Ide(replica(local).url)
    await ide.login(name, "daves-password")
    other = (await login(local.gateway.url, name, "daves-password")).json()
    assert (await ide.rest("GET", "/sessions")).status_code == 200

    users(local.workdir / "users.json", "passwd", name, password=NEW_PASSWORD)
    for base in (local.gateway.url, replica(local).url):
        assert await sessions(base, other["access_token"]) == 401
    assert (await refresh(local.gateway.url, other["refresh_token"])).status_code == 400
    with pytest.raises(LoggedOut):  # 401, then the refresh fails: the IDE shows its login page
        await ide.rest("GET", "/sessions")
    assert (await login(local.gateway.url, name, "daves-password")).status_code == 400
    await ide.login(name, NEW_PASSWORD)
    assert (await ide.rest("GET", "/sessions")).status_code == 200

    users(local.workdir / "users.json", "remove", name)
    assert ide.tokens is not None
    for base in (local.gateway.url, replica(local).url):
        assert await sessions(base, ide.tokens["access_token"]) == 401
    assert (await login(replica(local).url, name, NEW_PASSWORD)).status_code == 400
    await ide.aclose()


async def test_a_gateway_in_jwt_mode_verifies_the_tokens_through_the_jwks(local: System) -> None:
    verifier = start_gateway(
        local,
        "gateway-jwt",
        {
            "GATEWAY__AUTH_MODE": "jwt",
            "GATEWAY__JWT_JWKS_URL": f"{local.gateway.url}/.well-known/jwks.json",
            "GATEWAY__JWT_ISSUER": "codelab-gateway",
            "GATEWAY__JWT_AUDIENCE": "codelab",
        },
    )
    token = (await login(local.gateway.url, "alice", ALICE_PASSWORD)).json()["access_token"]
    async with httpx.AsyncClient(base_url=verifier.url, timeout=30) as http:
        created = await http.post("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})
        forged = await http.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
    assert created.status_code in (200, 201)
    ide = Ide(local.gateway.url)
    await ide.login("alice", ALICE_PASSWORD)
    mine = (await ide.rest("GET", "/sessions")).json()["sessions"]
    assert created.json()["id"] in {s["id"] for s in mine}  # the same subject on both gateways
    assert forged.status_code == 401
    await ide.aclose()


async def test_no_password_token_or_signing_key_reaches_any_log(local: System) -> None:
    grant = (await login(local.gateway.url, "alice", ALICE_PASSWORD)).json()
    renewed = (await refresh(replica(local).url, grant["refresh_token"])).json()
    await login(local.gateway.url, "alice", ALICE_PASSWORD + "x")
    await refresh(local.gateway.url, grant["refresh_token"])  # a reuse, refused and logged as such
    key_body = "".join(
        line for line in (local.workdir / "gateway-signing-key.pem").read_text().splitlines() if "-----" not in line
    )
    logs = local.logs()
    assert "oauth/token" in logs  # the logins were logged
    secrets_planted = [ALICE_PASSWORD, NEW_PASSWORD, grant["refresh_token"], renewed["refresh_token"]]
    secrets_planted += [grant["access_token"], renewed["access_token"], key_body[:32], key_body[-32:]]
    for secret in secrets_planted:
        assert secret not in logs
    assert not re.search(r"\$argon2id\$", logs)  # nor a password hash


@pytest.mark.parametrize("prefix", ["用户-", "ü" * 118])
async def test_a_user_whose_name_is_not_latin_1_plays_the_whole_flow(local: System, prefix: str) -> None:
    """Such a subject once got close 1011 on the socket and 400 on REST: it must work end to end."""
    name = prefix + uuid.uuid4().hex[:8]
    users(local.workdir / "users.json", "add", name, password="a-long-enough-password")
    ide = await play_the_ides_flow(local, name, "a-long-enough-password")
    await ide.aclose()
