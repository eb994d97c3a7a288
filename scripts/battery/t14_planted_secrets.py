"""T14 — planted secrets: the internal key, an OpenAI key, an Anthropic key and two user tokens, each recognisable,
given to the services at DEBUG; then traffic that uses every one of them and gives each a chance to leak: turns
through the openai and anthropic providers (to the fake LLM, so the provider keys really go upstream), upstream
faults, tool calls, near-miss keys (the real key plus one character) in headers, the user token in a WebSocket query
string and in a subprotocol, bad frames, REST calls, 401s. A second gateway in mode local (a user made by
``python -m gateway users add`` with a planted password) adds logins, wrong passwords, refreshes, a reused refresh
token and REST and WebSocket calls with the access tokens: the password, every refresh and access token it issued
and its signing key are planted secrets too (the token endpoint's own answers, which must hold the tokens, are not
scanned).

Pass mark: 0 occurrences of any planted secret (whole, or its random part) in the service logs, the database files
(SQLite file and WAL), the frames every client received and the HTTP answers; and the controls hold (the fake
received requests, the logs are not empty), so the test cannot pass by doing nothing. Short: 10 turns; long: 200.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from pathlib import Path

import httpx
import websockets
from turns import create_session

from harness import (
    BENCH,
    PLANTED_KEY,
    PYTHON,
    Service,
    System,
    Tally,
    battery,
    free_port,
    running_system,
    spawn_json_process,
    stop_process,
)

OPENAI_KEY = "sk-planted-openai-" + secrets.token_hex(16)
ANTHROPIC_KEY = "sk-ant-planted-" + secrets.token_hex(16)
USER_TOKEN = "planted-user-token-" + secrets.token_hex(16)
OTHER_TOKEN = "planted-other-token-" + secrets.token_hex(16)
PASSWORD = "planted-password-" + secrets.token_hex(16)
SECRETS = {"internal key": PLANTED_KEY, "openai key": OPENAI_KEY, "anthropic key": ANTHROPIC_KEY,
           "user token": USER_TOKEN, "other user token": OTHER_TOKEN, "password": PASSWORD}  # fmt: skip
CLIENT = "codelab-flutter-app"


def needles(issued: dict[str, str]) -> dict[str, str]:
    """Each secret (planted, or issued during the run) whole and its random tail alone (a partial mask still leaks
    the tail)."""
    found = {}
    for name, value in {**SECRETS, **issued}.items():
        found[name] = value
        found[f"{name} (tail)"] = value[-24:]
    return found


def count_in(tally: Tally, channel: str, blob: bytes, issued: dict[str, str]) -> None:
    for name, needle in needles(issued).items():
        hits = blob.count(needle.encode())
        if hits:
            tally.add(f"leaks in {channel}", hits)
            tally.note(f"{name} found {hits}× in {channel}")
    tally.add(f"bytes scanned in {channel}", len(blob))


async def ws_traffic(url_for: str, turns: int, seen: list[bytes], tally: Tally) -> None:
    headers = {"Authorization": f"Bearer {USER_TOKEN}"}
    async with websockets.connect(url_for, additional_headers=headers, max_size=None) as ws:
        for n in range(turns):
            model_text = "[fake fault=500 fault_after=0 fault_rate=1]" if n % 4 == 3 else ""
            tool = ' [[tool:read_file {"path": "a.txt"}]]' if n % 5 == 4 else ""
            await ws.send(json.dumps({"type": "user_message", "content": f"{model_text} secret check {n}{tool}"}))
            await ws.send('{"type": "user_message", "content": 5}')
            async with asyncio.timeout(30):
                while True:
                    raw = await ws.recv()
                    seen.append(raw.encode() if isinstance(raw, str) else raw)
                    frame = json.loads(raw)
                    if frame.get("type") == "tool_call":
                        result = {"type": "tool_result", "call_id": frame["call_id"], "tool_name": frame["tool_name"],
                                  "result": {"content": "file text"}}  # fmt: skip
                        await ws.send(json.dumps(result))
                    if frame.get("type") == "done" and frame.get("stop_reason") != "tool_call":
                        break
            tally.add("turns")


async def probes(system_urls: dict[str, str], ws_base: str, seen: list[bytes], tally: Tally) -> None:
    """Near misses and credentials in the wrong place: every answer is kept for the scan."""
    async with httpx.AsyncClient(timeout=15) as client:
        for name, base in system_urls.items():
            for headers in (
                {"X-Internal-Auth": PLANTED_KEY + "x"},
                {"Authorization": f"Bearer {PLANTED_KEY}x"},
                {"Authorization": f"Bearer {OPENAI_KEY}"},
                {"X-Internal-Auth": PLANTED_KEY},
            ):
                for path in ("/metrics", "/v1/models", "/sessions", f"/nope?key={PLANTED_KEY}"):
                    answer = await client.get(base + path, headers=headers)
                    seen.append(answer.content)
                    tally.add(f"http probes {name}")
        for token in (USER_TOKEN + "x", OTHER_TOKEN, ANTHROPIC_KEY):
            answer = await client.get(
                system_urls["gateway"] + "/api/v1/sessions", headers={"Authorization": f"Bearer {token}"}
            )
            seen.append(answer.content)
    for attempt in (
        {"uri": f"{ws_base}?access_token={USER_TOKEN}&token={PLANTED_KEY}", "subprotocols": None},
        {"uri": ws_base, "subprotocols": ["bearer", USER_TOKEN + "x"]},
    ):
        try:
            async with websockets.connect(attempt["uri"], subprotocols=attempt["subprotocols"]) as ws:  # type: ignore[arg-type]
                await ws.send('{"type": "ping"}')
                seen.append(str(await asyncio.wait_for(ws.recv(), 5)).encode())
        except (websockets.ConnectionClosed, websockets.InvalidStatus, TimeoutError) as exc:
            seen.append(str(exc).encode())
        tally.add("ws probes")


def scan_database(tally: Tally, data: Path, issued: dict[str, str]) -> None:
    for path in sorted(data.rglob("*")) if data.exists() else []:
        if path.is_file():
            count_in(tally, "database files", path.read_bytes(), issued)
            tally.add("database files scanned")


def leaky_env(tally: Tally, fake: str) -> dict[str, str]:
    """Both providers point at the fake (so their keys really go upstream); the gateway checks user tokens."""
    models = tally.workdir / "models.yaml"
    models.write_text(
        "models:\n"
        "  leaky: {provider: openai, upstream_model: fake-model, fallbacks: [claude]}\n"
        "  claude: {provider: anthropic, upstream_model: claude-fake}\n"
    )
    return {
        "LLM_PROXY__MODELS_FILE": str(models),
        "LLM_PROXY__OPENAI_BASE_URL": f"{fake}/v1",
        "LLM_PROXY__OPENAI_API_KEY": OPENAI_KEY,
        "LLM_PROXY__ANTHROPIC_BASE_URL": fake,
        "LLM_PROXY__ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "LLM_PROXY__DEFAULT_MODEL": "leaky",
        "LLM_PROXY__MAX_RETRIES": "0",
        "AGENT_RUNTIME__LLM_MODEL": "leaky",
        "GATEWAY__AUTH_MODE": "token",
        "GATEWAY__AUTH_TOKENS": f"user:{USER_TOKEN},other:{OTHER_TOKEN}",
    }


def local_gateway(system: System) -> Service:
    """A gateway in mode local next to the system, with one user made by the CLI (the password on stdin)."""
    users = system.workdir / "users.json"
    subprocess.run(
        [PYTHON, "-m", "gateway", "users", "add", "planted-user", "--file", str(users)],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )
    env = {
        **system.gateway.env,
        "GATEWAY__PORT": str(free_port()),
        "GATEWAY__AUTH_MODE": "local",
        "GATEWAY__USERS_FILE": str(users),
    }
    gateway = Service("gateway-local", "gateway", int(env["GATEWAY__PORT"]), system.workdir / "gateway-local.log", env)
    system.services["gateway-local"] = gateway
    gateway.start()
    gateway.wait_healthy()
    return gateway


async def login_traffic(gateway: Service, seen: list[bytes], tally: Tally) -> dict[str, str]:
    """Logins, refreshes and token use on the local gateway; returns every token it issued and its signing key."""
    issued: dict[str, str] = {}
    login = {"grant_type": "password", "username": "planted-user", "password": PASSWORD, "client_id": CLIENT}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        seen.append((await client.post("/oauth/token", data={**login, "password": PASSWORD + "x"})).content)
        seen.append((await client.post("/oauth/token", data={**login, "username": PASSWORD})).content)
        grant = (await client.post("/oauth/token", data=login)).json()
        renew = {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"], "client_id": CLIENT}
        renewed = (await client.post("/oauth/token", data=renew)).json()
        seen.append((await client.post("/oauth/token", data=renew)).content)  # a reuse: refused, login revoked
        for token in (grant["access_token"], renewed["access_token"]):
            seen.append((await client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})).content)
        fresh = (await client.post("/oauth/token", data=login)).json()
        tally.add("logins", 3)
    ws = gateway.url.replace("http", "ws", 1) + "/api/v1/ws/new_planted?protocol=2"
    async with websockets.connect(ws, additional_headers={"Authorization": f"Bearer {fresh['access_token']}"}) as sock:
        await sock.send('{"type": "user_message", "content": "hello from a local user"}')
        async with asyncio.timeout(30):
            while json.loads(raw := await sock.recv()).get("type") != "done":
                seen.append(raw.encode() if isinstance(raw, str) else raw)
    for n, grant_ in enumerate((grant, renewed, fresh)):
        issued[f"refresh token {n}"] = grant_["refresh_token"]
        issued[f"access token {n} (signature)"] = grant_["access_token"].rsplit(".", 1)[-1]
    key = Path(gateway.env["GATEWAY__SIGNING_KEY_FILE"]).read_text()
    body = "".join(line for line in key.splitlines() if "-----" not in line)
    issued.update({"signing key (start)": body[:48], "signing key (end)": body[-48:]})
    return issued


async def traffic(tally: Tally, system: System, turns: int, seen: list[bytes]) -> None:
    user = {"Authorization": f"Bearer {USER_TOKEN}"}
    session_id = await create_session(system, user)
    await ws_traffic(system.ws_url(session_id, "?protocol=2"), turns, seen, tally)
    await probes({name: s.url for name, s in system.services.items()}, system.ws_url("new_probe"), seen, tally)
    async with httpx.AsyncClient(timeout=10) as client:
        history = await client.get(f"{system.gateway.url}/api/v1/sessions/{session_id}/history", headers=user)
    seen.append(history.content)


async def planted_secrets(tally: Tally) -> None:
    turns = 200 if tally.long else 10
    fake_process, info = await spawn_json_process(
        PYTHON, str(BENCH / "fake_llm.py"), "--port", "0", "--tokens", "6", "--interval-ms", "2", "--ttft-ms", "2"
    )
    fake = f"http://127.0.0.1:{info['port']}"
    seen: list[bytes] = []
    try:
        with running_system(tally, leaky_env(tally, fake)) as system:
            await traffic(tally, system, turns, seen)
            issued = await login_traffic(local_gateway(system), seen, tally)
            data = Path(system.workdir) / "data"
            scan_database(tally, data, issued)  # while running: the WAL is still there
            logs = system.logs()
        scan_database(tally, data, issued)  # after shutdown: what was checkpointed into the file
        async with httpx.AsyncClient(timeout=10) as client:
            tally.set("fake_requests", (await client.get(f"{fake}/fake/stats")).json()["requests"])
    finally:
        await stop_process(fake_process)
    count_in(tally, "logs", logs.encode(), issued)
    count_in(tally, "frames and answers", b"\n".join(seen), issued)
    tally.set("log_lines", logs.count("\n"))
    leaks = sum(v for k, v in tally.counters.items() if k.startswith("leaks in"))
    tally.mark("the provider keys were used upstream (the fake got requests)", tally.get("fake_requests") > 0)
    tally.mark(
        "DEBUG logs, the database and frames were scanned",
        tally.get("log_lines") > 50 and tally.get("database files scanned") > 0,
    )
    tally.mark("turns ran", tally.get("turns") == turns)
    tally.mark("logins, refreshes and token use ran on the local gateway", tally.get("logins") == 3)
    tally.mark("0 planted secrets in logs, database files, frames and answers", leaks == 0)


main = battery("t14_planted_secrets", planted_secrets, __doc__ or "")

if __name__ == "__main__":
    main()
