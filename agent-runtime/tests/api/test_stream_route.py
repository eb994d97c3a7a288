"""``POST /agent/message/stream`` through the ASGI app with a fake model."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tests.fake_llm import FakeLLM


def parse(body: str) -> list[tuple[int, dict[str, Any]]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        events.append((int(lines["id"]), orjson.loads(lines["data"])))
    return events


def user(content: object = "hello world", **extra: object) -> dict[str, object]:
    frame = {"type": "user_message", "content": content, "role": "user", "call_id": None, "metadata": None}
    return {**frame, **extra}


async def test_a_null_session_starts_with_session_info_and_ends_with_done(client: httpx.AsyncClient) -> None:
    response = await client.post("/agent/message/stream", json={"session_id": None, "message": user()})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse(response.text)
    chunks = [c for _, c in events]
    session_id = chunks[0]["session_id"]
    assert chunks[0] == {"type": "session_info", "session_id": session_id}
    assert [c["token"] for c in chunks if c.get("is_final") is False] == ["Hello", " world", "!"]
    final = chunks[-2]
    assert (final["type"], final["content"], final["is_final"]) == ("assistant_message", "Hello world!", True)
    assert final["metadata"] == {"agent": "universal"}  # single-agent mode (conftest)
    assert chunks[-1]["type"] == "done"
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    assert all(c["session_id"] == session_id for c in chunks)
    seqs = [seq for seq, _ in events]
    assert seqs == sorted(set(seqs))


async def test_an_unknown_session_id_is_created_without_session_info(client: httpx.AsyncClient) -> None:
    chunks = [
        c
        for _, c in parse(
            (await client.post("/agent/message/stream", json={"session_id": "old-script", "message": user()})).text
        )
    ]
    assert chunks[0]["type"] == "assistant_message"
    assert (await client.get("/sessions/old-script")).json()["title"] == "hello world"


async def test_seqs_keep_rising_across_turns(client: httpx.AsyncClient) -> None:
    first = parse((await client.post("/agent/message/stream", json={"session_id": "s", "message": user()})).text)
    second = parse(
        (await client.post("/agent/message/stream", json={"session_id": "s", "message": user("again")})).text
    )
    assert second[0][0] > first[-1][0]


async def test_bad_frames_are_refused_before_any_event(client: httpx.AsyncClient) -> None:
    bad = [
        {"session_id": None, "message": {"type": "dance"}},
        {"session_id": None, "message": {"content": "no type"}},
        {"session_id": None, "message": user(content="")},
        {"session_id": None, "message": user(content=42)},
        {"session_id": None},
        {"session_id": 5, "message": user()},
        {"session_id": "bad id with spaces", "message": user()},
    ]
    for body in bad:
        response = await client.post("/agent/message/stream", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["message"]


async def test_the_model_is_offered_only_the_tools_the_client_declared(
    client: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    message = user(client_tools=["read_file", "list_files"], client_tools_options={"excludes_secrets": False})
    assert (await client.post("/agent/message/stream", json={"session_id": "ct", "message": message})).is_success
    offered = {tool["function"]["name"] for tool in fake_llm.requests[-1]["tools"]}
    assert {"read_file", "list_files"} <= offered
    assert not offered & {"write_file", "execute_command", "search_in_code", "create_directory"}
    assert (await client.post("/agent/message/stream", json={"session_id": "ct", "message": user("again")})).is_success
    assert {tool["function"]["name"] for tool in fake_llm.requests[-1]["tools"]} == offered  # remembered


async def test_a_malformed_tool_declaration_is_refused_before_any_event(client: httpx.AsyncClient) -> None:
    body = {"session_id": None, "message": user(client_tools="read_file")}
    response = await client.post("/agent/message/stream", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "message.client_tools"


async def test_a_foreign_subject_gets_404_before_streaming(client: httpx.AsyncClient) -> None:
    mine = (await client.post("/sessions", headers={"X-Subject": "alice"})).json()["id"]
    response = await client.post(
        "/agent/message/stream", json={"session_id": mine, "message": user()}, headers={"X-Subject": "bob"}
    )
    assert (response.status_code, response.json()["error"]["message"]) == (404, f"session {mine} not found")


async def test_a_caller_with_a_subject_cannot_create_a_chosen_id(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/agent/message/stream", json={"session_id": "demo", "message": user()}, headers={"X-Subject": "alice"}
    )
    assert response.status_code == 404
    assert (await client.get("/sessions/demo")).status_code == 404
    anonymous = await client.post("/agent/message/stream", json={"session_id": "demo", "message": user()})
    assert anonymous.status_code == 200  # without a subject (development, internal tools) ids may be chosen


async def test_a_blank_or_undecodable_subject_is_refused_on_the_stream(client: httpx.AsyncClient) -> None:
    for raw in ("", "%20%09", "%FF"):
        response = await client.post(
            "/agent/message/stream", json={"session_id": None, "message": user()}, headers={"X-Subject": raw}
        )
        assert (response.status_code, response.json()["error"]["param"]) == (400, "X-Subject"), raw


async def test_a_model_failure_streams_error_then_done(client: httpx.AsyncClient, fake_llm: FakeLLM) -> None:
    fake_llm.fail_after = 1
    chunks = [
        c
        for _, c in parse(
            (await client.post("/agent/message/stream", json={"session_id": "s", "message": user()})).text
        )
    ]
    assert [c["type"] for c in chunks] == ["assistant_message", "error", "done"]
    assert chunks[-1]["stop_reason"] == "error"
    assert chunks[1]["metadata"] == {"code": "llm_stream_failed"}


async def test_usage_of_each_turn_is_recorded(client: httpx.AsyncClient) -> None:
    await client.post("/agent/message/stream", json={"session_id": "s", "message": user()})
    body = (await client.get("/events/metrics/session/s")).json()
    assert body["usage"]["llm_calls"] == 1
    assert body["usage"]["total_tokens"] == 6


async def test_the_events_of_a_turn_carry_the_request_id_as_correlation(client: httpx.AsyncClient) -> None:
    await client.post(
        "/agent/message/stream", json={"session_id": "s", "message": user()}, headers={"X-Request-ID": "req-123"}
    )
    audit = (await client.get("/events/audit-log", params={"session_id": "s"})).json()["events"]
    assert {e["event_type"] for e in audit} >= {"SessionCreated", "MessageAppended", "RunStarted", "RunStopped"}
    assert {e["correlation_id"] for e in audit} == {"req-123"}


async def test_a_body_that_is_not_json_or_a_subject_too_long_is_refused_with_400(client: httpx.AsyncClient) -> None:
    not_json = await client.post("/agent/message/stream", content=b"{not json", headers={"content-type": "text/plain"})
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == "invalid_message"
    long_subject = await client.post(
        "/agent/message/stream", json={"session_id": None, "message": user()}, headers={"X-Subject": "x" * 1025}
    )
    assert long_subject.status_code == 400
    assert long_subject.json()["error"]["param"] == "X-Subject"
    assert (await client.get("/sessions")).json()["total"] == 0  # nothing was created


async def test_a_body_over_the_limit_is_refused_with_413(client: httpx.AsyncClient) -> None:
    limit = client.app.state.settings.max_request_bytes  # type: ignore[attr-defined]
    response = await client.post("/agent/message/stream", json={"session_id": None, "message": user("x" * limit)})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


async def test_other_methods_are_refused_and_the_route_is_documented(client: httpx.AsyncClient) -> None:
    assert (await client.get("/agent/message/stream")).status_code == 405
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/agent/message/stream"]["post"]
    assert {"200", "400", "403", "404", "413"} <= set(operation["responses"])


async def test_a_deleted_session_is_404_although_it_was_used_just_before(client: httpx.AsyncClient) -> None:
    """The route remembers sessions it has seen (no read per turn); a deletion must make it forget."""
    assert (await client.post("/agent/message/stream", json={"session_id": "gone", "message": user()})).is_success
    assert (await client.delete("/sessions/gone")).is_success
    response = await client.post("/agent/message/stream", json={"session_id": "gone", "message": user()})
    assert response.status_code == 404


async def test_a_remembered_session_still_refuses_a_foreign_subject(client: httpx.AsyncClient) -> None:
    created = (await client.post("/sessions", headers={"X-Subject": "alice"})).json()["id"]
    mine = {"session_id": created, "message": user()}
    assert (await client.post("/agent/message/stream", json=mine, headers={"X-Subject": "alice"})).is_success
    response = await client.post("/agent/message/stream", json=mine, headers={"X-Subject": "bob"})
    assert response.status_code == 404
