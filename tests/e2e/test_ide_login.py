"""The real IDE's whole flow against the three real processes, exactly as the IDE does it: login, REST with the
Bearer token, the credential-less WebSocket, chat, a tool call, an approval, a proactive refresh, and a 401 that
refreshes and retries (shared/reference/ide-protocol.md §1-§5)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import websockets
from cryptography.hazmat.primitives import serialization

from tests.e2e.ide import Ide, frame, receive_until
from tests.e2e.system import System


def is_reply(data: dict[str, Any]) -> bool:
    return data["type"] == "assistant_message"


def is_call(data: dict[str, Any]) -> bool:
    return data["type"] == "tool_call"


async def chat_with_tools(ide: Ide, session_id: str) -> None:
    """Switch to the coder, get an approval-gated write, approve it, then a read that runs at once."""
    async with websockets.connect(ide.ws_url(session_id)) as ws:  # no header, no sub-protocol, no query
        await ws.send(frame(type="switch_agent", agent_type="coder", content="Switched to Coder"))
        switched = await receive_until(ws, lambda f: f["type"] == "agent_switched")
        assert switched[-1]["to_agent"] == "coder"

        write = '{"path": "notes.md", "content": "# Notes"}'
        await ws.send(frame(type="user_message", role="user", content=f"save notes [[tool:write_file {write}]]"))
        call = (await receive_until(ws, is_call))[-1]
        assert (call["tool_name"], call["requires_approval"]) == ("write_file", True)

        # The IDE restores its approval banner from REST while the call waits.
        pending = (await ide.rest("GET", f"/sessions/{session_id}/pending-approvals")).json()
        assert [(p["call_id"], p["tool_name"]) for p in pending["pending_approvals"]] == [
            (call["call_id"], "write_file")
        ]
        # Approve: the IDE executes the call and answers with its result.
        result = {"success": True, "bytes_written": 7}
        await ws.send(frame(type="tool_result", call_id=call["call_id"], tool_name="write_file", result=result))
        await receive_until(ws, is_reply)

        read = '{"path": "notes.md"}'
        await ws.send(frame(type="user_message", role="user", content=f"read [[tool:read_file {read}]] [[2:text:ok]]"))
        call = (await receive_until(ws, is_call))[-1]
        assert (call["tool_name"], call["requires_approval"]) == ("read_file", False)
        content = {"success": True, "content": "# Notes", "lines_read": 1}
        await ws.send(frame(type="tool_result", call_id=call["call_id"], tool_name="read_file", result=content))
        assert (await receive_until(ws, is_reply))[-1]["content"] == "ok"


async def play_the_ides_flow(system: System, username: str, password: str) -> Ide:
    """Everything the IDE does from its login page to a finished chat; returns the logged-in IDE."""
    ide = Ide(system.gateway.url)
    await ide.login(username, password)
    created = await ide.rest("POST", "/sessions")  # no body, as the IDE posts it
    assert created.status_code in (200, 201)
    session_id = created.json()["id"]
    assert isinstance(created.json()["message_count"], int)
    history = (await ide.rest("GET", f"/sessions/{session_id}/history")).json()
    assert (history["session_id"], history["messages"]) == (session_id, [])
    assert (await ide.rest("GET", f"/sessions/{session_id}/pending-approvals")).json()["count"] == 0

    await chat_with_tools(ide, session_id)

    history = (await ide.rest("GET", f"/sessions/{session_id}/history")).json()
    assert history["message_count"] >= 4
    listed = (await ide.rest("GET", "/sessions")).json()["sessions"]
    assert [s["id"] for s in listed] == [session_id]  # only this user's sessions
    assert ide.refreshes == 0
    assert set(ide.statuses) <= {200, 201}
    return ide


async def refresh_before_expiry_and_after_a_401(ide: Ide, key_file: Path) -> None:
    """Less than 300 s left on the IDE's clock: it refreshes first. A token the server finds expired: 401, one
    refresh, the call again."""
    assert ide.tokens is not None
    lifetime = ide.tokens["expires_in"]
    ide.clock = lambda: time.time() + lifetime - 299
    before = dict(ide.tokens)
    assert (await ide.rest("GET", "/sessions")).status_code == 200
    assert ide.refreshes == 1
    assert ide.tokens["refresh_token"] != before["refresh_token"]
    ide.clock = time.time

    # The laptop slept: the server holds the access token expired while the IDE's arithmetic does not.
    ide.tokens["access_token"] = expired_copy(ide.tokens["access_token"], key_file)
    answer = await ide.rest("GET", "/sessions")
    assert (answer.status_code, ide.statuses[-2:], ide.refreshes) == (200, [401, 200], 2)


def expired_copy(token: str, key_file: Path) -> str:
    """The same token (same login) signed by the gateway's own key, but expired an hour ago."""
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    return jwt.encode(claims, key, algorithm="ES256", headers=jwt.get_unverified_header(token))  # type: ignore[arg-type]


async def test_the_ides_flow_works_unchanged_in_development_mode(system: System) -> None:
    ide = await play_the_ides_flow(system, "ide-dev-user", "any password at all")
    try:
        await refresh_before_expiry_and_after_a_401(ide, system.workdir / "gateway-signing-key.pem")
    finally:
        await ide.aclose()
