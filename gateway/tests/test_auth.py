"""Authenticators: static tokens, and JWTs checked against a local JWKS server with keys made in the test."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_issuer import AUDIENCE, ISSUER, Issuer

from gateway.auth import AuthFailed, JwtAuth, TokenAuth, bearer_token, subprotocol_token
from gateway.jwks import JwksKeys


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def jwt_auth(http: aiohttp.ClientSession, issuer: Issuer, min_refresh: float = 30.0) -> JwtAuth:
    keys = JwksKeys(http, issuer.url, ttl=300, min_refresh=min_refresh)
    return JwtAuth(keys, issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256", "ES256"], leeway=0)


async def test_a_static_token_maps_to_its_subject_and_others_are_refused() -> None:
    auth = TokenAuth({"tok-alice-0123456789": "alice", "tok-bob-9876543210": "bob"})
    assert (await auth.authenticate("tok-bob-9876543210")).subject == "bob"
    for bad in (None, "", "tok-alice", "tok-alice-0123456789x"):
        with pytest.raises(AuthFailed):
            await auth.authenticate(bad)


async def test_rs256_and_es256_tokens_are_accepted_and_the_keys_fetched_once(
    http: aiohttp.ClientSession, issuer: Issuer
) -> None:
    auth = jwt_auth(http, issuer)
    assert (await auth.authenticate(issuer.token("rsa-1", sub="alice"))).subject == "alice"
    assert (await auth.authenticate(issuer.token("ec-1", sub="bob"))).subject == "bob"
    for _ in range(5):
        await auth.authenticate(issuer.token("rsa-1"))
    assert issuer.hits == 1


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": int(time.time()) - 60}, "token expired"),
        ({"iss": "https://evil.test"}, "invalid token"),
        ({"aud": "someone-else"}, "invalid token"),
    ],
)
async def test_tokens_with_bad_claims_are_refused(
    http: aiohttp.ClientSession, issuer: Issuer, claims: dict[str, Any], message: str
) -> None:
    with pytest.raises(AuthFailed, match=message):
        await jwt_auth(http, issuer).authenticate(issuer.token("rsa-1", **claims))


async def test_a_token_without_a_subject_is_refused(http: aiohttp.ClientSession, issuer: Issuer) -> None:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}
    token = jwt.encode(claims, issuer.keys["rsa-1"], algorithm="RS256", headers={"kid": "rsa-1"})
    with pytest.raises(AuthFailed):
        await jwt_auth(http, issuer).authenticate(token)


async def test_a_token_signed_by_an_unpublished_key_is_refused(http: aiohttp.ClientSession, issuer: Issuer) -> None:
    issuer.add_key("rsa-rogue", rsa.generate_private_key(public_exponent=65537, key_size=2048), publish=False)
    with pytest.raises(AuthFailed):
        await jwt_auth(http, issuer).authenticate(issuer.token("rsa-rogue"))


async def test_a_forged_kid_cannot_swap_in_another_published_key(http: aiohttp.ClientSession, issuer: Issuer) -> None:
    token = jwt.encode(
        {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60},
        issuer.keys["rsa-1"],
        algorithm="RS256",
        headers={"kid": "ec-1"},
    )
    with pytest.raises(AuthFailed):
        await jwt_auth(http, issuer).authenticate(token)


async def test_symmetric_and_unsigned_tokens_are_refused(http: aiohttp.ClientSession, issuer: Issuer) -> None:
    claims = {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}
    public_pem = issuer.jwks()["keys"][0]["n"]  # anything an attacker could know
    hs256 = jwt.encode(claims, public_pem, algorithm="HS256", headers={"kid": "rsa-1"})
    unsigned = jwt.encode(claims, "", algorithm="none")
    auth = jwt_auth(http, issuer)
    for token in (hs256, unsigned, "not.a.jwt", "garbage"):
        with pytest.raises(AuthFailed):
            await auth.authenticate(token)


async def test_a_rotated_key_is_picked_up_by_refetching_the_jwks(http: aiohttp.ClientSession, issuer: Issuer) -> None:
    auth = jwt_auth(http, issuer, min_refresh=0)
    await auth.authenticate(issuer.token("rsa-1"))
    issuer.add_key("rsa-2", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert (await auth.authenticate(issuer.token("rsa-2", sub="rotated"))).subject == "rotated"
    assert issuer.hits == 2


async def test_unknown_kids_do_not_hammer_the_jwks_endpoint(http: aiohttp.ClientSession, issuer: Issuer) -> None:
    auth = jwt_auth(http, issuer, min_refresh=30)
    issuer.add_key("rsa-rogue", rsa.generate_private_key(public_exponent=65537, key_size=2048), publish=False)
    for _ in range(10):
        with pytest.raises(AuthFailed):
            await auth.authenticate(issuer.token("rsa-rogue"))
    assert issuer.hits == 1


async def test_an_unreachable_jwks_refuses_the_token(http: aiohttp.ClientSession, issuer: Issuer) -> None:
    keys = JwksKeys(http, "http://127.0.0.1:9/jwks.json", ttl=300, min_refresh=0)
    auth = JwtAuth(keys, issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"], leeway=0)
    with pytest.raises(AuthFailed, match="keys unavailable"):
        await auth.authenticate(issuer.token("rsa-1"))


def test_credentials_are_found_in_the_bearer_header_and_the_subprotocol() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token(None) is None
    assert subprotocol_token(["bearer", "tok"]) == ("tok", "bearer")
    assert subprotocol_token(["bearer.tok"]) == ("tok", None)
    assert subprotocol_token(["chat"]) == (None, None)
    assert subprotocol_token(["bearer"]) == (None, None)
