"""``GET /api/v1/sessions`` through httpx's transport seam."""

from __future__ import annotations

import httpx
import pytest

from codelab_chat.sessions import SessionsUnavailable, list_sessions, rest_base, session_history

SESSIONS = [{"id": "s1", "title": "first", "message_count": 2, "current_agent": "coder"}]


def test_rest_base_is_derived_from_the_websocket_url() -> None:
    assert rest_base("ws://127.0.0.1:8000") == "http://127.0.0.1:8000/api/v1"
    assert rest_base("wss://example.org/") == "https://example.org/api/v1"
    assert rest_base("http://h:8000/api/v1/ws") == "http://h:8000/api/v1"
    assert rest_base("https://h/ws") == "https://h/api/v1"


async def test_sessions_are_listed_with_the_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"sessions": SESSIONS, "total": 1})

    sessions = await list_sessions("ws://gw:8000", "tok", transport=httpx.MockTransport(handle))

    assert sessions == SESSIONS
    assert str(seen[0].url) == "http://gw:8000/api/v1/sessions"
    assert seen[0].headers["Authorization"] == "Bearer tok"


async def test_an_error_envelope_becomes_a_readable_failure() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "missing token", "type": "auth", "code": "unauthorized"}})

    with pytest.raises(SessionsUnavailable, match="HTTP 401: missing token"):
        await list_sessions("ws://gw:8000", transport=httpx.MockTransport(handle))


async def test_an_answer_without_a_sessions_list_is_refused() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"session": {}})

    with pytest.raises(SessionsUnavailable, match="without a 'sessions' list"):
        await list_sessions("ws://gw:8000", transport=httpx.MockTransport(handle))


async def test_a_sessions_history_is_fetched_by_its_quoted_id() -> None:
    seen: list[str] = []
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"session_id": "a/b", "messages": messages, "message_count": 2})

    assert await session_history("ws://gw", "a/b", transport=httpx.MockTransport(handle)) == messages
    assert seen == ["/api/v1/sessions/a%2Fb/history"]


async def test_a_non_json_answer_is_a_readable_failure() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>proxy page</html>")

    with pytest.raises(SessionsUnavailable, match="other than JSON"):
        await list_sessions("ws://gw", transport=httpx.MockTransport(handle))
