"""Hostile values against every REST route and the frame stream, on SQLite and on the real PostgreSQL.

The corpus: NUL characters, lone surrogates, numbers past 64 bits, deep nesting, 10 MB strings, in the path, the
query string, headers and JSON bodies. Every answer must be a success or a 4xx in the JSON error envelope (never a
5xx, never an exception), and a user message is never silently lost: it is stored exactly as sent or refused with
a 400 that says why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from agent_runtime.app import create_app
from tests.conftest import app_client, make_settings
from tests.fake_llm import FakeLLM

HUGE_NUMBERS = ["9223372036854775808", "99999999999999999999", "-9223372036854775809", "1e400", "%00"]
HOSTILE_SEGMENTS = ["%00", "a%00b", "%ED%A0%80", "%FF", "x" * 5000]
# JSON texts (not Python values): lone surrogates only exist as escapes, and nesting must reach the parser whole.
HOSTILE_JSON = [
    '"nul\\u0000inside"',
    '"\\ud800"',
    '"\\udfff tail"',
    '"' + "y" * 10_000_000 + '"',
    "9223372036854775808",
    "99999999999999999999",
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 5_000 + "1" + "}" * 5_000,
]


@pytest.fixture
async def http(tmp_path: Path, db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(tmp_path, db_url), llm=FakeLLM(["ok"]))
    async with app_client(app) as client:
        client.headers["X-Subject"] = "alice"
        yield client


async def answer(http: httpx.AsyncClient, method: str, path: str, body: str | None = None, **headers: str) -> bytes:
    """Send one request; assert it was not a server error and that an error came in the envelope. Returns the body
    (of an event stream: up to its first event)."""
    sent = {"Content-Type": "application/json", **headers}
    async with http.stream(method, path, content=body.encode() if body is not None else None, headers=sent) as got:
        if got.headers.get("content-type", "").startswith("text/event-stream"):
            data = b""
            async for part in got.aiter_bytes():
                data += part
                if b"\n\n" in data and not path.startswith("/agent/"):
                    break  # an event log stays open: its first event (or heartbeat) is enough
        else:
            data = await got.aread()
    where = f"{method} {path[:80]} {(body or '')[:200]!r}"
    assert got.status_code < 500, f"{where}: {got.status_code} {data[:200]!r}"
    if got.status_code >= 400:
        error = orjson.loads(data)["error"]
        assert error["message"], where
    assert b'"code":"internal"' not in data, f"{where}: {data[:300]!r}"
    return data


def targets(session_id: str) -> list[tuple[str, str, str | None]]:
    """(method, path, body) for every route, each hostile path segment and query value in turn."""
    found: list[tuple[str, str, str | None]] = []
    for number in HUGE_NUMBERS:
        found += [
            ("GET", f"/sessions?limit={number}", None),
            ("GET", f"/sessions?offset={number}", None),
            ("GET", f"/sessions?active_only={number}", None),
            ("GET", f"/sessions/{session_id}/events?after={number}", None),
            ("GET", f"/events/metrics/sessions?limit={number}", None),
            ("GET", f"/events/audit-log?limit={number}", None),
        ]
    for segment in HOSTILE_SEGMENTS:
        for below in ("", "/history", "/pending-approvals", "/outstanding-tool-calls", "/events"):
            found.append(("GET", f"/sessions/{segment}{below}", None))
        found += [
            ("PATCH", f"/sessions/{segment}", '{"title": "t"}'),
            ("DELETE", f"/sessions/{segment}", None),
            ("GET", f"/agents/{segment}/current", None),
            ("POST", f"/agents/{segment}/switch", '{"agent_type": "universal"}'),
            ("GET", f"/events/metrics/session/{segment}", None),
            ("GET", f"/events/audit-log?session_id={segment}", None),
            ("GET", f"/events/audit-log?event_type={segment}", None),
        ]
    for value in HOSTILE_JSON:
        found += [
            ("POST", "/sessions", f'{{"title": {value}}}'),
            ("POST", "/sessions", f'{{"id": {value}}}'),
            ("PATCH", f"/sessions/{session_id}", f'{{"title": {value}}}'),
            ("POST", f"/agents/{session_id}/switch", f'{{"agent_type": {value}}}'),
            ("POST", f"/agents/{session_id}/switch", f'{{"agent_type": "universal", "reason": {value}}}'),
            ("POST", f"/agents/{session_id}/switch", f'{{"agent_type": "universal", "confidence": {value}}}'),
            ("POST", "/agent/message/stream", f'{{"session_id": {value}, "message": {{"type": "user_message"}}}}'),
            ("POST", "/agent/message/stream", f'{{"session_id": "{session_id}", "message": {value}}}'),
        ]
        for frame in (
            f'{{"type": "tool_result", "call_id": {value}, "result": {{"success": true}}}}',
            f'{{"type": "tool_result", "call_id": "c1", "tool_name": {value}, "result": {{"v": {value}}}}}',
            f'{{"type": "hitl_decision", "call_id": {value}, "decision": "approve"}}',
            f'{{"type": "plan_decision", "plan_id": {value}, "decision": "approve"}}',
            f'{{"type": "switch_agent", "agent_type": {value}, "reason": {value}}}',
            f'{{"type": "user_message", "content": "hi", "client_message_id": {value}}}',
            f'{{"type": "user_message", "content": "hi", "agent_type": {value}}}',
        ):
            found.append(("POST", "/agent/message/stream", f'{{"session_id": "{session_id}", "message": {frame}}}'))
        found.append(("POST", "/sessions", value))
    return found


async def test_no_hostile_value_gets_a_server_error(http: httpx.AsyncClient) -> None:
    session_id = (await http.post("/sessions")).json()["id"]
    for method, path, body in targets(session_id):
        await answer(http, method, path, body)
    for subject in ("%00", "a%00b", "%ED%A0%80", "%20", "%09"):
        data = await answer(http, "GET", "/sessions", None, **{"X-Subject": subject})
        assert b"X-Subject" in data
    # (httpx's ASGI transport reads a whole answer: only values that must be refused, never an open event log)
    for last_event_id in ("99999999999999999999", "x" * 5000, "1" * 5000, "\u0000"):
        await answer(http, "GET", f"/sessions/{session_id}/events", None, **{"Last-Event-ID": last_event_id})


@pytest.mark.parametrize("content", ["hello\u0000world", "\u0000", "\ufdd0starts with the marker", "y" * 10_000_000])
async def test_a_user_message_is_stored_exactly_as_sent(http: httpx.AsyncClient, content: str) -> None:
    """PostgreSQL's text cannot hold NUL: the message once ended the turn with an internal error and was lost."""
    session_id = (await http.post("/sessions")).json()["id"]
    frame = {"session_id": session_id, "message": {"type": "user_message", "content": content}}
    await answer(http, "POST", "/agent/message/stream", orjson.dumps(frame).decode())
    history = (await http.get(f"/sessions/{session_id}/history")).json()["messages"]
    assert [(m["role"], m["content"]) for m in history] == [("user", content), ("assistant", "ok")]
    assert "\u0000" not in ((await http.get(f"/sessions/{session_id}")).json()["title"] or "")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ('"\\ud800"', "unicode"),  # no system can store a lone surrogate
        ('"a\\u0000b"', "NUL"),  # a title is a label
    ],
)
async def test_a_title_that_cannot_be_stored_is_refused_saying_why(
    http: httpx.AsyncClient, value: str, says: str
) -> None:
    session_id = (await http.post("/sessions")).json()["id"]
    data = await answer(http, "PATCH", f"/sessions/{session_id}", f'{{"title": {value}}}')
    error: dict[str, Any] = orjson.loads(data)["error"]
    assert says.lower() in error["message"].lower()
