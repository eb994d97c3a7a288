"""The gateway's REST views the client reads: the sessions (list, one, its history) and the agents."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class SessionsUnavailable(Exception):
    """The list could not be fetched; the message says why (no secrets in it)."""


class NotFound(SessionsUnavailable):
    """The gateway answered 404: no such session (or not this user's)."""


def rest_base(base_url: str) -> str:
    """``ws://host:8000`` → ``http://host:8000/api/v1`` (``wss`` → ``https``; a trailing ``/ws`` path is dropped)."""
    base = base_url.rstrip("/")
    if base.startswith("ws://") or base.startswith("wss://"):
        base = "http" + base[2:]
    for suffix in ("/api/v1/ws", "/ws", "/api/v1"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base + "/api/v1"


async def _get(
    base_url: str, path: str, token: str | None, transport: httpx.AsyncBaseTransport | None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=rest_base(base_url), headers=headers, transport=transport) as client:
        try:
            response = await client.get(path, timeout=10.0)
        except httpx.HTTPError as exc:
            raise SessionsUnavailable(f"cannot reach {rest_base(base_url)}: {exc}") from exc
    if response.status_code == 404:
        raise NotFound(f"GET /api/v1{path} answered HTTP 404: {_message(response)}")
    if response.status_code != 200:
        raise SessionsUnavailable(f"GET /api/v1{path} answered HTTP {response.status_code}: {_message(response)}")
    try:
        body = response.json()
    except ValueError as exc:
        raise SessionsUnavailable(f"GET /api/v1{path} answered something other than JSON") from exc
    if not isinstance(body, dict):
        raise SessionsUnavailable(f"GET /api/v1{path} answered something other than an object")
    return body


async def list_sessions(
    base_url: str, token: str | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> list[dict[str, Any]]:
    """The sessions the gateway lists for this user, in the gateway's order."""
    sessions = (await _get(base_url, "/sessions", token, transport)).get("sessions")
    if not isinstance(sessions, list):
        raise SessionsUnavailable("GET /api/v1/sessions answered without a 'sessions' list")
    return [item for item in sessions if isinstance(item, dict)]


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return str(body)[:200]


async def session_history(
    base_url: str, session_id: str, token: str | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> list[dict[str, Any]]:
    """The session's messages (OpenAI-style ``{role, content, …}``), oldest first."""
    body = await _get(base_url, f"/sessions/{quote(session_id, safe='')}/history", token, transport)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise SessionsUnavailable("the history answer has no 'messages' list")
    return [item for item in messages if isinstance(item, dict)]


async def session_exists(
    base_url: str, session_id: str, token: str | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> bool:
    """False when the gateway says there is no such session; True when it has it (or cannot say right now)."""
    try:
        await _get(base_url, f"/sessions/{quote(session_id, safe='')}", token, transport)
    except NotFound:
        return False
    except SessionsUnavailable:
        return True  # the socket will tell, with its own error
    return True


async def agent_names(
    base_url: str, token: str | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> list[str]:
    """The ids of the agents a session can switch to (``GET /api/v1/agents``)."""
    agents = (await _get(base_url, "/agents", token, transport)).get("agents")
    if not isinstance(agents, list):
        raise SessionsUnavailable("GET /api/v1/agents answered without an 'agents' list")
    return [str(agent["id"]) for agent in agents if isinstance(agent, dict) and agent.get("id")]
