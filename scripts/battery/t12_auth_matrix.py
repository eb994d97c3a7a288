"""T12 — the auth matrix: no key, wrong key, key in the query, foreign Origin, expired or forged JWT, the internal key
used as a user token, and one user touching another user's session, over HTTP and WebSocket.

The gateway runs in token mode (two users, one allowed Origin); a second gateway in jwt mode uses a JWKS served by
this script. Pass mark: every attack rejected (401/403, 404 for another user's session, or the socket closed with
1008) and every control (the right credentials) accepted, so the matrix cannot pass by rejecting everything. Short
and long are the same matrix; the long version repeats it 5 times.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import websockets
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from websockets.typing import Subprotocol

from harness import PLANTED_KEY, Service, System, Tally, battery, first_traceback, free_port, running_system, scan_logs

ALICE, BOB = "alice-token-" + "a" * 24, "bob-token-" + "b" * 24
ORIGIN = "https://ide.example"
ISSUER, AUDIENCE = "https://auth.example", "codelab"


class Keys:
    """An OAuth server's signing key and a forger's key."""

    def __init__(self) -> None:
        self.good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.evil = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.good.public_key()))
        return {"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}

    def token(self, *, key: Any = None, exp: float = 600, **claims: Any) -> str:
        now = time.time()
        body = {"sub": "carol", "iss": ISSUER, "aud": AUDIENCE, "iat": int(now), "exp": int(now + exp), **claims}
        return jwt.encode(body, key or self.good, algorithm="RS256", headers={"kid": "k1"})


async def ws_outcome(url: str, headers: dict[str, str] | None = None, subprotocols: list[str] | None = None) -> str:
    """``"open"`` when the socket answers a ping, else the close code (or the refusal) as text."""
    try:
        async with websockets.connect(
            url,
            additional_headers=headers or {},
            subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols else None,
            open_timeout=10,
        ) as ws:
            await ws.send('{"type": "ping", "nonce": "auth"}')
            async with asyncio.timeout(5):
                while True:
                    if json.loads(await ws.recv()).get("type") == "pong":
                        return "open"
    except websockets.ConnectionClosed as exc:
        return str(exc.rcvd.code if exc.rcvd else "1006")
    except websockets.InvalidStatus as exc:
        return f"http {exc.response.status_code}"
    except TimeoutError:
        return "timeout"


def expect(tally: Tally, case: str, outcome: str, accepted: bool) -> None:
    rejected = outcome in {"401", "403", "404", "1008", "http 401", "http 403"}
    ok = outcome in {"200", "201", "open"} if accepted else rejected
    kind = "control" if accepted else "attack"
    tally.add(f"{kind}s")
    if ok:
        tally.add(f"{kind}s_as_expected")
    else:
        tally.add("auth_bypass" if not accepted else "control_refused")
        tally.note(f"{kind} {case}: got {outcome}")


async def protected_cases(tally: Tally, system: System, client: httpx.AsyncClient) -> None:
    """Every service's protected routes: no key, wrong key, wrong bearer, a prefix of the key, the key in the query."""
    key = system.key
    protected = [
        (system.proxy.url, "GET", "/v1/models"),
        (system.proxy.url, "POST", "/v1/chat/completions"),
        (system.runtime.url, "GET", "/sessions"),
        (system.runtime.url, "POST", "/agent/message/stream"),
        (system.gateway.url, "GET", "/metrics"),
    ]
    attacks = {
        "no key": ({}, ""),
        "wrong key": ({"X-Internal-Auth": "wrong-key-0123456789abcdef"}, ""),
        "wrong bearer": ({"Authorization": "Bearer " + key[:-1] + "x"}, ""),
        "key prefix": ({"X-Internal-Auth": key[:-4]}, ""),
        "key in query": ({}, f"?key={key}&api_key={key}&internal_api_key={key}&access_token={key}"),
    }
    for base, method, path in protected:
        for name, (headers, query) in attacks.items():
            response = await client.request(method, base + path + query, headers=headers, json={})
            expect(tally, f"{method} {base}{path} {name}", str(response.status_code), accepted=False)
        response = await client.request("GET", base + "/metrics", headers={"X-Internal-Auth": key})
        expect(tally, f"{base} with the key", str(response.status_code), accepted=True)


async def facade_cases(tally: Tally, system: System, client: httpx.AsyncClient) -> str:
    """The gateway's REST facade (user tokens) and another user's session; returns alice's session id."""
    gateway = system.gateway.url + "/api/v1/sessions"
    for name, headers, query in [
        ("no token", {}, ""),
        ("wrong token", {"Authorization": "Bearer nope-" + "x" * 20}, ""),
        ("internal key as user token", {"Authorization": f"Bearer {system.key}"}, ""),
        ("token in query", {}, f"?access_token={ALICE}&token={ALICE}"),
    ]:
        response = await client.get(gateway + query, headers=headers)
        expect(tally, f"gateway REST {name}", str(response.status_code), accepted=False)
    created = await client.post(gateway, headers={"Authorization": f"Bearer {ALICE}"}, json={"title": "alice's"})
    expect(tally, "alice creates a session", str(created.status_code), accepted=True)
    alice_session = created.json().get("id", "missing") if created.status_code < 300 else "missing"
    own = await client.get(f"{gateway}/{alice_session}", headers={"Authorization": f"Bearer {ALICE}"})
    expect(tally, "alice reads her session", str(own.status_code), accepted=True)
    bob = {"Authorization": f"Bearer {BOB}"}
    for method in ("GET", "PATCH", "DELETE"):
        foreign = await client.request(method, f"{gateway}/{alice_session}", headers=bob, json={"title": "x"})
        expect(tally, f"bob {method} alice's session (REST)", str(foreign.status_code), accepted=False)
    history = await client.get(f"{gateway}/{alice_session}/history", headers=bob)
    expect(tally, "bob reads alice's history (REST)", str(history.status_code), accepted=False)
    direct = await client.get(
        f"{system.runtime.url}/sessions/{alice_session}/events?after=0",
        headers={"X-Internal-Auth": system.key, "X-Subject": "bob"},
    )
    expect(tally, "bob's subject on the runtime's event log", str(direct.status_code), accepted=False)
    return str(alice_session)


async def ws_cases(tally: Tally, system: System, alice_session: str) -> None:
    url = system.ws_url("new_auth")
    bearer = {"Authorization": f"Bearer {ALICE}"}
    expect(tally, "ws alice bearer", await ws_outcome(url, bearer), accepted=True)
    expect(tally, "ws alice subprotocol", await ws_outcome(url, subprotocols=["bearer", ALICE]), accepted=True)
    expect(tally, "ws alice own session", await ws_outcome(system.ws_url(alice_session), bearer), accepted=True)
    expect(tally, "ws allowed Origin", await ws_outcome(url, {**bearer, "Origin": ORIGIN}), accepted=True)
    attacks = {
        "ws no credentials": (url, {}, None),
        "ws wrong token": (url, {"Authorization": "Bearer nope-" + "x" * 20}, None),
        "ws internal key as token": (url, {"Authorization": f"Bearer {system.key}"}, None),
        "ws token in query": (system.ws_url("new_auth", f"?access_token={ALICE}&token={ALICE}"), {}, None),
        "ws foreign Origin": (url, {**bearer, "Origin": "https://evil.example"}, None),
        "ws null Origin": (url, {**bearer, "Origin": "null"}, None),
        "ws Origin look-alike": (url, {**bearer, "Origin": ORIGIN + ".evil.example"}, None),
        "ws bob on alice's session": (system.ws_url(alice_session), {"Authorization": f"Bearer {BOB}"}, None),
        "ws wrong subprotocol token": (url, {}, ["bearer", "nope-" + "x" * 20]),
    }
    for name, (target, headers, protocols) in attacks.items():
        expect(tally, name, await ws_outcome(target, headers, protocols), accepted=False)


@contextlib.asynccontextmanager
async def jwt_gateway(system: System, keys: Keys) -> AsyncIterator[int]:
    """A second gateway in jwt mode next to the running system, its JWKS served from here; yields its port."""
    app = web.Application()

    async def jwks(_: web.Request) -> web.Response:
        return web.json_response(keys.jwks())

    app.router.add_get("/jwks", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    jwks_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", jwks_port).start()
    port = free_port()
    env = {
        **system.gateway.env,
        "GATEWAY__PORT": str(port),
        "GATEWAY__AUTH_MODE": "jwt",
        "GATEWAY__JWT_JWKS_URL": f"http://127.0.0.1:{jwks_port}/jwks",
        "GATEWAY__JWT_ISSUER": ISSUER,
        "GATEWAY__JWT_AUDIENCE": AUDIENCE,
    }
    gateway = Service("gateway-jwt", "gateway", port, system.workdir / "gateway-jwt.log", env)
    system.services["gateway-jwt"] = gateway
    gateway.start()
    try:
        await asyncio.to_thread(gateway.wait_healthy)
        yield port
    finally:
        gateway.stop()
        await runner.cleanup()


def forged_tokens(keys: Keys) -> dict[str, str]:
    claims = {"sub": "carol", "iss": ISSUER, "aud": AUDIENCE}
    return {
        "expired JWT": keys.token(exp=-3600),
        "JWT of another key": keys.token(key=keys.evil),
        "JWT wrong audience": keys.token(aud="someone-else"),
        "JWT wrong issuer": keys.token(iss="https://evil.example"),
        "JWT without sub": jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600}, keys.good, "RS256", {"kid": "k1"}
        ),
        "JWT alg none": jwt.encode(claims, "", algorithm="none"),
        "JWT HS256": jwt.encode(claims, "k" * 32, algorithm="HS256"),
        "JWT garbage": "a.b.c",
    }


async def jwt_cases(tally: Tally, system: System, keys: Keys) -> None:
    async with jwt_gateway(system, keys) as port, httpx.AsyncClient(timeout=10) as client:
        url = f"ws://127.0.0.1:{port}/api/v1/ws/new_jwt"
        expect(tally, "ws valid JWT", await ws_outcome(url, {"Authorization": f"Bearer {keys.token()}"}), True)
        for name, token in forged_tokens(keys).items():
            bearer = {"Authorization": f"Bearer {token}"}
            expect(tally, f"ws {name}", await ws_outcome(url, bearer), False)
            answer = await client.get(f"http://127.0.0.1:{port}/api/v1/sessions", headers=bearer)
            expect(tally, f"REST {name}", str(answer.status_code), accepted=False)


async def auth_matrix(tally: Tally) -> None:
    env = {
        "GATEWAY__AUTH_MODE": "token",
        "GATEWAY__AUTH_TOKENS": f"alice:{ALICE},bob:{BOB}",
        "GATEWAY__WS_ALLOWED_ORIGINS": ORIGIN,
    }
    keys = Keys()
    with running_system(tally, env) as system:
        async with httpx.AsyncClient(timeout=15) as client:
            for _ in range(5 if tally.long else 1):
                await protected_cases(tally, system, client)
                await ws_cases(tally, system, await facade_cases(tally, system, client))
        await jwt_cases(tally, system, keys)
        logs = system.logs()
    scan_logs(tally, logs, [ALICE, BOB])
    if tally.get("tracebacks_in_logs"):
        tally.note(first_traceback(logs))
    tally.mark("every attack rejected (401/403/404/1008): 0 auth bypass", tally.get("auth_bypass") == 0)
    tally.mark("every control accepted", tally.get("control_refused") == 0 and tally.get("controls") > 0)
    tally.mark("0 tracebacks in the logs", tally.get("tracebacks_in_logs") == 0)
    tally.mark("0 tokens or keys in the logs", tally.get("leaked_secrets") == 0, f"key {PLANTED_KEY[:18]}…")


main = battery("t12_auth_matrix", auth_matrix, __doc__ or "")

if __name__ == "__main__":
    main()
