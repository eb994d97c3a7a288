"""/agents and /events through the ASGI app."""

from __future__ import annotations

import httpx


async def test_agents_are_the_catalogues_in_multi_agent_mode(multi_agent_client: httpx.AsyncClient) -> None:
    body = (await multi_agent_client.get("/agents")).json()
    assert [a["id"] for a in body["agents"]] == ["orchestrator", "coder", "architect", "debug", "ask"]
    assert body["agents"][1]["name"] == "Coder"
    assert body["entry"] == "orchestrator"


async def test_single_agent_mode_lists_only_the_universal_agent(client: httpx.AsyncClient) -> None:
    body = (await client.get("/agents")).json()
    assert [a["id"] for a in body["agents"]] == ["universal"]
    assert (body["count"], body["entry"]) == (1, "universal")


async def test_a_rest_session_in_single_agent_mode_talks_to_the_universal_agent(client: httpx.AsyncClient) -> None:
    await client.post("/sessions", json={"id": "s1"})
    assert (await client.get("/agents/s1/current")).json()["current_agent"] == "universal"
    same = await client.post("/agents/s1/switch", json={"agent_type": "universal"})
    absent = await client.post("/agents/s1/switch", json={"agent_type": "coder"})
    assert (same.status_code, same.json()["error"]["code"]) == (409, "same_agent")
    assert (absent.status_code, absent.json()["error"]["code"]) == (422, "unknown_agent")
    assert "universal" in absent.json()["error"]["message"]


async def test_switching_agents_updates_current_and_history(multi_agent_client: httpx.AsyncClient) -> None:
    client = multi_agent_client
    await client.post("/sessions", json={"id": "s1"})
    response = await client.post("/agents/s1/switch", json={"agent_type": "coder", "reason": "code", "confidence": 0.7})
    assert response.status_code == 200
    body = (await client.get("/agents/s1/current")).json()
    assert body["current_agent"] == "coder"
    assert body["agent_history"][0]["reason"] == "code"
    assert (await client.get("/sessions/s1")).json()["current_agent"] == "coder"


async def test_bad_switches_are_refused_with_their_status(multi_agent_client: httpx.AsyncClient) -> None:
    client = multi_agent_client
    await client.post("/sessions", json={"id": "s1"})
    same = await client.post("/agents/s1/switch", json={"agent_type": "orchestrator"})
    unknown = await client.post("/agents/s1/switch", json={"agent_type": "wizard"})
    missing = await client.post("/agents/nope/switch", json={"agent_type": "coder"})
    invalid = await client.post("/agents/s1/switch", json={"agent_type": "coder", "confidence": 7})
    assert [r.status_code for r in (same, unknown, missing, invalid)] == [409, 422, 404, 400]


async def test_metrics_count_events_sessions_and_usage(client: httpx.AsyncClient) -> None:
    await client.post(
        "/agent/message/stream", json={"session_id": "s1", "message": {"type": "user_message", "content": "hi"}}
    )
    body = (await client.get("/events/metrics")).json()
    assert body["sessions"] == {"total": 1, "active": 1}
    assert body["events_by_type"]["SessionCreated"] == 1
    assert body["usage"]["llm_calls"] == 1
    sessions = (await client.get("/events/metrics/sessions")).json()
    assert sessions["sessions"][0]["session_id"] == "s1"
    assert (await client.get("/events/metrics/session/nope")).status_code == 404


async def test_the_audit_log_filters_by_session_and_type(client: httpx.AsyncClient) -> None:
    await client.post("/sessions", json={"id": "a"})
    await client.post("/sessions", json={"id": "b"})
    await client.patch("/sessions/b", json={"title": "t"})
    body = (await client.get("/events/audit-log", params={"session_id": "b"})).json()
    assert [e["event_type"] for e in body["events"]] == ["SessionRenamed", "SessionCreated"]
    typed = (await client.get("/events/audit-log", params={"event_type": "SessionCreated", "limit": 1})).json()
    assert typed["count"] == 1
    assert typed["events"][0]["causation_id"] == "CreateSession"


async def create_as(client: httpx.AsyncClient, subject: str) -> str:
    """A session owned by ``subject``, with the id the runtime chose."""
    response = await client.post("/sessions", headers={"X-Subject": subject})
    assert response.status_code == 201
    return str(response.json()["id"])


async def test_audit_log_and_metrics_show_a_subject_only_its_own_sessions(client: httpx.AsyncClient) -> None:
    alice, bob = {"X-Subject": "alice"}, {"X-Subject": "bob"}
    a, b = await create_as(client, "alice"), await create_as(client, "bob")
    audit = (await client.get("/events/audit-log", headers=alice)).json()
    assert {e["session_id"] for e in audit["events"]} == {a}
    listed = (await client.get("/events/metrics/sessions", headers=alice)).json()
    assert [s["session_id"] for s in listed["sessions"]] == [a]
    totals = (await client.get("/events/metrics", headers=alice)).json()
    assert (totals["sessions"]["total"], totals["total_events"]) == (1, 1)
    # Another subject's session answers exactly like a session that does not exist.
    for session in (b, "no-such-session"):
        foreign = await client.get("/events/metrics/session/" + session, headers=alice)
        assert (foreign.status_code, foreign.json()["error"]["message"]) == (404, f"session {session} not found")
        audit_of = await client.get("/events/audit-log", params={"session_id": session}, headers=alice)
        assert (audit_of.status_code, audit_of.json()["events"]) == (200, [])
    own = await client.get("/events/audit-log", params={"session_id": b}, headers=bob)
    assert [e["session_id"] for e in own.json()["events"]] == [b]
    everyone = (await client.get("/events/audit-log")).json()
    assert {e["session_id"] for e in everyone["events"]} == {a, b}


async def test_event_bus_statistics_are_for_operators_only(client: httpx.AsyncClient) -> None:
    await create_as(client, "alice")
    refused = await client.get("/events/stats", headers={"X-Subject": "alice"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert "delivered" in (await client.get("/events/stats")).json()


async def test_stats_show_subscribers_and_deliveries(client: httpx.AsyncClient) -> None:
    await client.post("/sessions", json={"id": "a"})
    body = (await client.get("/events/stats")).json()
    names = {s["name"] for s in body["subscribers"]}
    assert {"live_fanout", "prometheus"} <= names
    assert body["delivered"]["prometheus"] >= 1
    assert body["failed"] == {}


async def test_prometheus_metrics_count_domain_events(client: httpx.AsyncClient) -> None:
    await client.post("/sessions", json={"id": "a"})
    text = (await client.get("/metrics")).text
    assert 'agent_runtime_domain_events_total{category="session",type="SessionCreated"} 1.0' in text
