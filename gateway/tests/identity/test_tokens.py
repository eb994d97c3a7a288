"""Access tokens: what they carry, and every way a token that is not ours is refused."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from gateway.identity.keys import load_signing_keys
from gateway.identity.tokens import AccessClaims, AccessTokens, InvalidToken, RefreshToken

CLAIMS = AccessClaims("alice", "family-0123456789abcdef", "v1")


def tokens(tmp_path: Path, **overrides: object) -> AccessTokens:
    options: dict[str, object] = {"issuer": "codelab-gateway", "audience": "codelab", "lifetime": 900}
    options.update(overrides)
    return AccessTokens(load_signing_keys(tmp_path / "k.pem", []), **options)  # type: ignore[arg-type]


def test_a_minted_token_carries_the_standard_claims_and_verifies(tmp_path: Path) -> None:
    access = tokens(tmp_path)
    issued = access.mint(CLAIMS)
    body = jwt.decode(issued.token, options={"verify_signature": False})
    assert set(body) == {"iss", "aud", "sub", "iat", "exp", "jti", "sid", "uv"}
    assert body["exp"] - body["iat"] == issued.expires_in == 900
    assert abs(body["iat"] - time.time()) < 5
    assert jwt.get_unverified_header(issued.token)["alg"] == "ES256"
    assert access.verify(issued.token) == CLAIMS
    assert access.mint(CLAIMS).token != issued.token  # a new jti every time


def test_an_expired_token_says_so(tmp_path: Path) -> None:
    past = tokens(tmp_path, clock=lambda: time.time() - 3600)
    with pytest.raises(InvalidToken, match="token expired"):
        tokens(tmp_path).verify(past.mint(CLAIMS).token)


def forged(tmp_path: Path) -> list[str]:
    good = tokens(tmp_path).mint(CLAIMS).token
    header, _body, signature = good.split(".")
    other = tokens(tmp_path / "other")  # another key with the same issuer and audience
    body_of = jwt.decode(good, options={"verify_signature": False})
    return [
        other.mint(CLAIMS).token,
        f"{header}.{other.mint(AccessClaims('mallory', 'f', 'v')).token.split('.')[1]}.{signature}",
        jwt.encode(body_of, key=None, algorithm="none"),  # type: ignore[arg-type]
        jwt.encode(body_of, "secret-" * 8, algorithm="HS256", headers={"kid": jwt.get_unverified_header(good)["kid"]}),
        tokens(tmp_path, audience="elsewhere").mint(CLAIMS).token,
        tokens(tmp_path, issuer="someone").mint(CLAIMS).token,
        tokens(tmp_path).mint(AccessClaims(" \t", "f", "v")).token,
        tokens(tmp_path).mint(AccessClaims("", "f", "v")).token,
        "not.a.token",
        "",
    ]


def test_a_token_not_signed_by_our_key_or_not_for_us_is_refused(tmp_path: Path) -> None:
    access = tokens(tmp_path)
    for token in forged(tmp_path):
        with pytest.raises(InvalidToken, match=r"^invalid token$"):
            access.verify(token)


def test_a_refresh_token_round_trips_and_keeps_only_a_digest(tmp_path: Path) -> None:
    token = RefreshToken.new()
    parsed = RefreshToken.parse(token.encoded())
    assert parsed == token
    assert token.secret not in repr(token)
    assert token.secret not in token.digest
    assert RefreshToken.new(token.family).family == token.family
    for bad in ("", "no-dot", "short.short", "x" * 20 + ".", "ü" * 20 + "." + "y" * 40):
        assert RefreshToken.parse(bad) is None
