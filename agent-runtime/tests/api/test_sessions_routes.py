"""The /sessions routes through the ASGI app (SQLite file, fake model)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import httpx

from agent_runtime.app import create_app
from agent_runtime.application.commands import CreateSession, IssueToolCall
from tests.conftest import KEY, app_client, make_settings
from tests.fake_llm import FakeLLM


async def test_post_without_body_creates_a_flat_session(client: httpx.AsyncClient) -> None:
    response = await client.post("/sessions")
    assert response.status_code == 201
    body = response.json()
    assert isinstance(body["id"], str)
    assert body["message_count"] == 0
    assert body["is_active"] is True
    assert body["current_agent"] == "universal"  # the catalogue's entry agent (single-agent mode here)
    assert body["created_at"].endswith("+00:00")


async def test_a_chosen_id_is_kept_and_a_second_create_is_409(client: httpx.AsyncClient) -> None:
    assert (await client.post("/sessions", json={"id": "chosen-1"})).json()["id"] == "chosen-1"
    response = await client.post("/sessions", json={"id": "chosen-1"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_exists"


async def test_listing_has_a_real_total_and_pages(client: httpx.AsyncClient) -> None:
    for index in range(5):
        await client.post("/sessions", json={"id": f"s{index}"})
    body = (await client.get("/sessions", params={"limit": 2, "offset": 1})).json()
    assert body["total"] == 5
    assert len(body["sessions"]) == 2
    assert (body["limit"], body["offset"]) == (2, 1)


async def test_get_answers_a_flat_session_or_404(client: httpx.AsyncClient) -> None:
    await client.post("/sessions", json={"id": "s1"})
    assert (await client.get("/sessions/s1")).json()["id"] == "s1"
    missing = await client.get("/sessions/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"


async def test_patch_renames_and_delete_hides(client: httpx.AsyncClient) -> None:
    await client.post("/sessions", json={"id": "s1"})
    assert (await client.patch("/sessions/s1", json={"title": "Renamed"})).json()["title"] == "Renamed"
    assert (await client.delete("/sessions/s1")).status_code == 200
    assert (await client.get("/sessions/s1")).status_code == 404
    assert (await client.delete("/sessions/s1")).status_code == 404
    assert (await client.get("/sessions")).json()["total"] == 0


async def test_bad_input_is_refused_with_an_envelope_never_a_500(client: httpx.AsyncClient) -> None:
    await client.post("/sessions", json={"id": "s1"})
    checks = [
        await client.get("/sessions", params={"limit": -1}),
        await client.get("/sessions", params={"limit": "many"}),
        await client.patch("/sessions/s1", json={"title": ""}),
        await client.patch("/sessions/s1", json={}),
        await client.post("/sessions", json={"id": "has spaces"}),
        await client.post("/sessions", content=b"{not json", headers={"Content-Type": "application/json"}),
    ]
    for response in checks:
        assert 400 <= response.status_code < 500, response.text
        assert "message" in response.json()["error"]


async def test_the_internal_key_is_required(client: httpx.AsyncClient) -> None:
    response = await client.get("/sessions", headers={"X-Internal-Auth": "wrong"})
    assert response.status_code == 401
    assert (await client.get("/health", headers={"X-Internal-Auth": ""})).status_code == 200
    assert (await client.get("/sessions", headers={"Authorization": f"Bearer {KEY}"})).status_code == 200


async def test_owned_sessions_are_private_to_their_subject(client: httpx.AsyncClient) -> None:
    mine = (await client.post("/sessions", headers={"X-Subject": "alice"})).json()["id"]
    await client.post("/sessions", headers={"X-Subject": "bob"})
    listed = (await client.get("/sessions", headers={"X-Subject": "alice"})).json()
    assert [s["id"] for s in listed["sessions"]] == [mine]
    for session in (mine, "no-such-session"):  # another's session and a missing one: the same answer
        for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/history")):
            kwargs = {"json": {"title": "x"}} if method == "PATCH" else {}
            response = await client.request(
                method,
                f"/sessions/{session}{path}",
                headers={"X-Subject": "bob"},
                **kwargs,  # type: ignore[arg-type]
            )
            assert response.status_code == 404
            assert response.json()["error"] == {
                "message": f"session {session} not found",
                "type": "not_found_error",
                "code": "not_found",
                "param": None,
            }
    assert (await client.get(f"/sessions/{mine}")).status_code == 200  # no subject: no owner checks


async def test_a_caller_with_a_subject_gets_an_unguessable_server_made_id(client: httpx.AsyncClient) -> None:
    ids = [(await client.post("/sessions", headers={"X-Subject": "alice"})).json()["id"] for _ in range(3)]
    assert len(set(ids)) == 3
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)  # 128 random bits, hex
    chosen = await client.post("/sessions", json={"id": "demo"}, headers={"X-Subject": "alice"})
    assert (chosen.status_code, chosen.json()["error"]["code"]) == (422, "session_id_not_allowed")
    assert (await client.get("/sessions/demo")).status_code == 404


async def test_any_valid_subject_is_carried_percent_encoded(client: httpx.AsyncClient) -> None:
    for subject in ("用户", "a" * 300, "ü" * 512, "alice@example.com", "tab\there"):
        headers = {"X-Subject": quote(subject, safe="")}
        created = await client.post("/sessions", headers=headers)
        assert created.status_code == 201, subject
        listed = (await client.get("/sessions", headers=headers)).json()
        assert [s["id"] for s in listed["sessions"]] == [created.json()["id"]]


async def test_a_blank_oversized_or_undecodable_subject_is_refused(client: httpx.AsyncClient) -> None:
    for raw in ("", "%20", "%09", "%20%09", quote("x" * 1025), "%FF%FE"):
        for response in (
            await client.post("/sessions", headers={"X-Subject": raw}),
            await client.get("/sessions", headers={"X-Subject": raw}),
        ):
            assert response.status_code == 400, raw
            assert response.json()["error"]["message"].startswith("X-Subject: ")
    assert (await client.get("/sessions")).json()["total"] == 0


async def test_history_is_openai_shaped(client: httpx.AsyncClient) -> None:
    await client.post(
        "/agent/message/stream", json={"session_id": "s1", "message": {"type": "user_message", "content": "hi"}}
    )
    body = (await client.get("/sessions/s1/history")).json()
    assert body["session_id"] == "s1"
    assert body["messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello world!"}]
    assert body["message_count"] == 2
    assert body["agent_history"] == []


async def test_pending_approvals_always_carry_string_tool_names(tmp_path: Path) -> None:
    plan = {"goal": "g", "subtasks": [{"id": "a", "title": "t", "description": "d", "agent": "universal"}]}
    tool = '[[tool:write_file {"path": "a.md", "content": "x"}]] write'
    async with app_client(create_app(make_settings(tmp_path), llm=FakeLLM())) as client:
        for session_id, content in (("tool", tool), ("plan", f"[[tool:create_plan {json.dumps(plan)}]] plan it")):
            message = {"type": "user_message", "content": content}
            response = await client.post("/agent/message/stream", json={"session_id": session_id, "message": message})
            assert response.status_code == 200
        for session_id, tool_name in (("tool", "write_file"), ("plan", "create_plan")):
            body = (await client.get(f"/sessions/{session_id}/pending-approvals")).json()
            assert body["session_id"] == session_id
            assert body["count"] == 1
            (item,) = body["pending_approvals"]
            assert item["tool_name"] == tool_name
            assert isinstance(item["call_id"], str)
            assert isinstance(item["arguments"], dict)
            assert "T" in item["created_at"]


async def test_outstanding_tool_calls_list_calls_without_results(client: httpx.AsyncClient) -> None:
    commands = client.app.state.commands  # type: ignore[attr-defined]
    await commands.execute(CreateSession(session_id="s1"))
    await commands.execute(IssueToolCall(session_id="s1", call_id="c1", tool_name="read_file", arguments={"path": "a"}))
    body = (await client.get("/sessions/s1/outstanding-tool-calls")).json()
    assert body["session_id"] == "s1"
    assert [(c["call_id"], c["tool_name"], c["requires_approval"]) for c in body["tool_calls"]] == [
        ("c1", "read_file", False)
    ]
