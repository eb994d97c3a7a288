"""Signing keys: created once with mode 0600, the same kid wherever loaded, previous keys still published."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.identity.keys import KeyFileError, load_signing_keys


def test_a_missing_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    first = load_signing_keys(path, [])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_signing_keys(path, [])
    assert again.kid == first.kid
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]  # nothing left beside it


def test_an_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    loaded = load_signing_keys(path, [])
    assert path.read_bytes() == pem
    assert loaded.private.private_numbers() == key.private_numbers()


def test_previous_keys_verify_and_are_published_but_never_sign(tmp_path: Path) -> None:
    old = load_signing_keys(tmp_path / "old.pem", [])
    public = tmp_path / "older.pub.pem"
    older_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    public.write_bytes(
        older_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    keys = load_signing_keys(tmp_path / "new.pem", [tmp_path / "old.pem", public])
    kids = [entry["kid"] for entry in keys.jwks()["keys"]]
    assert kids[0] == keys.kid != old.kid
    assert old.kid in kids
    assert len(kids) == 3
    for entry in keys.jwks()["keys"]:
        assert set(entry) == {"kty", "crv", "x", "y", "kid", "use", "alg"}  # public members only
        assert entry["alg"] == "ES256"
        assert jwt.PyJWK(entry).key_id == entry["kid"]


def test_the_kid_is_the_rfc7638_thumbprint(tmp_path: Path) -> None:
    keys = load_signing_keys(tmp_path / "k.pem", [])
    entry = keys.jwks()["keys"][0]
    # RFC 7638 §3.1: SHA-256 over {"crv","kty","x","y"} in lexicographic order without whitespace.
    import base64
    import hashlib

    canonical = f'{{"crv":"{entry["crv"]}","kty":"{entry["kty"]}","x":"{entry["x"]}","y":"{entry["y"]}"}}'
    digest = hashlib.sha256(canonical.encode()).digest()
    assert keys.kid == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_without_a_file_the_key_lives_only_in_memory(tmp_path: Path) -> None:
    assert load_signing_keys(None, []).kid != load_signing_keys(None, []).kid


@pytest.mark.parametrize("content", ["rsa", "p384", "garbage"])
def test_a_key_file_of_the_wrong_kind_stops_start_up_naming_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.pem"
    if content == "garbage":
        path.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    else:
        key = rsa.generate_private_key(65537, 2048) if content == "rsa" else ec.generate_private_key(ec.SECP384R1())
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    with pytest.raises(KeyFileError, match=str(path)) as caught:
        load_signing_keys(path, [])
    assert "BEGIN" not in str(caught.value)
