"""The REST half of the fake runtime: sessions, history, approvals, agents, and an echo under ``/events``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from fake_runtime import FakeRuntime


async def answer(runtime: FakeRuntime, request: web.Request) -> web.StreamResponse:
    from fake_runtime import _error, subject_of

    parts = [p for p in request.path.split("/") if p]
    subject = subject_of(request)
    body = await request.read()
    runtime.forwarded.append(
        {"method": request.method, "path": request.path, "query": request.rel_url.raw_query_string, "subject": subject}
    )
    if parts[0] == "events":
        url = request.rel_url
        echo = {"method": request.method, "path": url.raw_path, "query": url.raw_query_string, "body": body.decode()}
        return web.json_response(echo, status=202 if request.method == "POST" else 200)
    if parts[0] == "agents":
        return await _agents(parts, request)
    if parts == ["sessions"]:
        if request.method == "POST":
            return web.json_response(runtime.create_session(subject).view())
        mine = [s.view() for s in runtime.sessions.values() if subject is None or s.owner in (None, subject)]
        return web.json_response({"sessions": mine, "total": len(mine), "limit": 50, "offset": 0})
    found = runtime._owned(request, parts[1])
    if isinstance(found, web.Response):
        return found
    if len(parts) == 2:
        if request.method == "PATCH":
            found.title = str(orjson.loads(body).get("title") or found.title)
        elif request.method == "DELETE":
            del runtime.sessions[found.id]
            return web.Response(status=204)
        return web.json_response(found.view())
    if parts[2] == "history":
        return web.json_response(
            {"session_id": found.id, "messages": found.history, "message_count": len(found.history)}
        )
    if parts[2] == "pending-approvals":
        pending = [c for c in found.outstanding.values() if c["requires_approval"]]
        return web.json_response({"session_id": found.id, "pending_approvals": pending, "count": len(pending)})
    return _error(404, "no such route", "not_found")


async def _agents(parts: list[str], request: web.Request) -> web.Response:
    if parts[1:] == ["slow"]:
        await asyncio.sleep(5)
    if parts[1:] == ["broken"]:
        assert request.transport is not None
        request.transport.close()  # a connection that dies mid-answer
        await asyncio.sleep(1)
    if len(parts) == 3 and parts[2] == "switch":
        return web.json_response({"switched_to": parts[1]})
    return web.json_response({"agents": [{"id": "coder", "name": "Coder"}, {"id": "ask", "name": "Ask"}]})
