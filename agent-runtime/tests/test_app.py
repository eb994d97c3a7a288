"""The composition root: the session cleanup task really runs in the lifespan."""

import asyncio
from pathlib import Path

import httpx

from agent_runtime.app import create_app
from tests.conftest import KEY, make_settings
from tests.fake_llm import FakeLLM


async def test_the_cleanup_task_soft_deletes_idle_sessions(tmp_path: Path) -> None:
    # A TTL of ~4 ms: a session is idle almost at once, and the loop wakes every 20 ms.
    settings = make_settings(tmp_path, session_ttl_hours=0.000001, cleanup_interval=0.02)
    app = create_app(settings, llm=FakeLLM())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://r", headers={"X-Internal-Auth": KEY}) as c:
            await c.post("/sessions", json={"id": "idle"})
            for _ in range(250):
                if (await c.get("/sessions/idle")).status_code == 404:
                    break
                await asyncio.sleep(0.02)
            assert (await c.get("/sessions/idle")).status_code == 404
            audit = (await c.get("/events/audit-log", params={"event_type": "SessionDeleted"})).json()
            assert audit["events"][0]["payload"] == {"reason": "expired"}


async def test_a_zero_ttl_disables_the_cleanup(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, session_ttl_hours=0, cleanup_interval=0.01), llm=FakeLLM())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://r", headers={"X-Internal-Auth": KEY}) as c:
            await c.post("/sessions", json={"id": "kept"})
            await asyncio.sleep(0.1)
            assert (await c.get("/sessions/kept")).status_code == 200


async def test_the_approval_sweeper_expires_undecided_approvals_in_the_background(tmp_path: Path) -> None:
    from tests.fake_llm import FakeLLM

    # Approvals expire after 50 ms and the sweeper wakes every 20 ms: no frame after the approval request.
    settings = make_settings(tmp_path, approval_ttl_seconds=0.05, approval_sweep_interval=0.02)
    app = create_app(settings, llm=FakeLLM())
    write = '[[tool:write_file {"path": "notes.md", "content": "hi"}]]'
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://r", headers={"X-Internal-Auth": KEY}) as c:
            body = {"session_id": "s", "message": {"type": "user_message", "content": write}}
            asked = (await c.post("/agent/message/stream", json=body)).text
            assert '"stop_reason":"approval"' in asked
            for _ in range(250):
                if (await c.get("/sessions/s/pending-approvals")).json()["count"] == 0:
                    break
                await asyncio.sleep(0.02)
            assert (await c.get("/sessions/s/pending-approvals")).json()["count"] == 0
            assert (await c.get("/sessions/s/outstanding-tool-calls")).json()["tool_calls"] == []
            audit = (await c.get("/events/audit-log", params={"event_type": "ApprovalDecided"})).json()
            assert audit["events"][0]["payload"]["status"] == "expired"
