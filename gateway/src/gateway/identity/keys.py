"""The keys that sign the gateway's access tokens (ES256, P-256) and the JWKS that publishes their public halves.

The current key signs; previous keys (rotation) only verify, so tokens signed before a rotation stay valid until
they expire. A key file missing at start-up is generated with mode 0600 and appears atomically (written aside, then
hard-linked into place): gateway replicas that share the file and start together all end up with the same key.
Each key is named by its RFC 7638 thumbprint, so the ``kid`` is the same wherever the key is loaded.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

_log = structlog.get_logger(__name__)
ALGORITHM = "ES256"


class KeyFileError(Exception):
    """A key file that cannot be read, created or used; the message names the file, never its content."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    public: ec.EllipticCurvePublicKey

    def jwk(self) -> dict[str, Any]:
        return {**_public_jwk(self.public), "kid": self.kid, "use": "sig", "alg": ALGORITHM}


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The signing key and every key a token may be verified with (the signing key's public half first)."""

    kid: str
    private: ec.EllipticCurvePrivateKey
    verification: dict[str, VerificationKey]

    def public_key(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        found = self.verification.get(kid)
        return found.public if found is not None else None

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set: what another service needs to verify the gateway's tokens."""
        return {"keys": [key.jwk() for key in self.verification.values()]}


def load_signing_keys(path: Path | None, previous: list[Path]) -> SigningKeys:
    """The key in ``path`` (created if missing; a fresh in-memory key when ``path`` is None) and the previous keys
    (private or public PEM files) that still verify."""
    private = _load_or_create(path) if path is not None else ec.generate_private_key(ec.SECP256R1())
    current = _verification(private.public_key())
    keys = {current.kid: current}
    for old in previous:
        key = _verification(_public_of(_read_pem(old), old))
        keys.setdefault(key.kid, key)
    return SigningKeys(current.kid, private, keys)


def _load_or_create(path: Path) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        _create(path)
    loaded = _read_pem(path)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
        raise KeyFileError(f"{path}: not a P-256 (ES256) private key")
    if path.stat().st_mode & 0o077:
        _log.warning("signing key file is readable by other users; chmod 600 it", path=str(path))
    return loaded


def _create(path: Path) -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, aside = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")  # mode 0600
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another replica made it first: use theirs
            os.link(aside, path)
            _log.info("signing key generated", path=str(path))
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create the signing key ({exc.strerror})") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(aside)


def _read_pem(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key ({exc.strerror})") from None
    try:
        if b"PRIVATE KEY" in data:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path}: not a PEM key without a passphrase") from None


def _public_of(key: Any, path: Path) -> ec.EllipticCurvePublicKey:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise KeyFileError(f"{path}: not a P-256 (ES256) key")
    return public


def _verification(public: ec.EllipticCurvePublicKey) -> VerificationKey:
    jwk = _public_jwk(public)
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}  # RFC 7638: required members, sorted
    digest = hashlib.sha256(orjson.dumps(members, option=orjson.OPT_SORT_KEYS)).digest()
    return VerificationKey(base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), public)


def _public_jwk(public: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    return dict(ECAlgorithm.to_jwk(public, as_dict=True))
