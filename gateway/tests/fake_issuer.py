"""A fake OAuth server: signing keys made in the test and a JWKS endpoint serving their public halves."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER, AUDIENCE = "https://auth.codelab.test", "codelab-gateway"


@dataclass
class Issuer:
    """An OAuth server's signing side plus its JWKS endpoint."""

    url: str = ""
    keys: dict[str, Any] = field(default_factory=dict)  # kid → private key
    published: list[str] = field(default_factory=list)  # kids in the JWKS
    hits: int = 0

    def add_key(self, kid: str, key: Any, publish: bool = True) -> None:
        self.keys[kid] = key
        if publish:
            self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        entries = []
        for kid in self.published:
            algorithm = jwt.get_algorithm_by_name("RS256" if kid.startswith("rsa") else "ES256")
            entry = algorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
            entries.append({**entry, "kid": kid, "use": "sig"})
        return {"keys": entries}

    def token(self, kid: str, **claims: Any) -> str:
        algorithm = "RS256" if kid.startswith("rsa") else "ES256"
        body = {"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 300, **claims}
        return jwt.encode(body, self.keys[kid], algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    state = Issuer()
    state.add_key("rsa-1", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    state.add_key("ec-1", ec.generate_private_key(ec.SECP256R1()))

    async def jwks(_: web.Request) -> web.Response:
        state.hits += 1
        return web.json_response(state.jwks())

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
    yield state
    await runner.cleanup()
