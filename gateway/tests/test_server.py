"""The served process: graceful shutdown with 1001, Prometheus metrics, and logs that never carry a token."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import orjson
import pytest
import structlog
from fake_runtime import KEY, FakeRuntime
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conftest import make_settings, serving
from service_kit.logs import configure_logging


async def test_shutdown_closes_sockets_with_1001_and_the_runtime_run_continues(runtime: FakeRuntime) -> None:
    runtime.agent.delay = 0.005
    async with serving(make_settings(runtime.url)) as gateway:
        ws = await connect(gateway.ws("/ws/new_1?protocol=2"))
        await ws.send('{"type":"user_message","content":"a long one"}')
        while orjson.loads(await asyncio.wait_for(ws.recv(), 10)).get("is_final") is not False:
            pass
        gateway.server.should_exit = True
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1001
        await asyncio.wait_for(gateway.task, 15)
    session = next(iter(runtime.sessions.values()))
    while session.log[-1].chunk["type"] != "done":
        await asyncio.sleep(0.02)
    assert session.log[-1].chunk["stop_reason"] == "completed"


async def test_metrics_count_frames_closes_and_relay_latency(runtime: FakeRuntime) -> None:
    settings = make_settings(runtime.url, ws_rate_burst=5, ws_rate_per_second=1)
    async with serving(settings) as gateway:
        async with connect(gateway.ws("/ws/new_1?protocol=2")) as ws:
            await ws.send('{"type":"user_message","content":"hi"}')
            while orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "done":
                pass
            await ws.send("not json")
            await ws.recv()
        async with connect(gateway.ws("/ws/new_2")) as flood:
            with contextlib.suppress(ConnectionClosed):
                for _ in range(50):
                    await flood.send('{"type":"ping"}')
                while True:
                    await asyncio.wait_for(flood.recv(), 10)
        async with gateway.client() as http:
            refused = await http.get("/metrics")
            text = (await http.get("/metrics", headers={"X-Internal-Auth": KEY})).text
    assert refused.status_code == 401
    assert 'gateway_ws_frames_in_total{type="user_message"} 1.0' in text
    assert 'gateway_ws_frames_in_total{type="invalid"} 1.0' in text
    assert 'gateway_ws_frames_out_total{type="done"} 1.0' in text
    assert 'gateway_ws_closes_total{code="1008"} 1.0' in text
    assert 'gateway_errors_total{kind="flood"} 1.0' in text
    assert "gateway_relay_latency_seconds_count" in text
    assert "gateway_ws_connections_active 0.0" in text


@pytest.fixture
def json_logs() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], level = saved
    root.setLevel(level)
    structlog.reset_defaults()


async def test_a_query_string_token_never_reaches_the_log(
    runtime: FakeRuntime, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "tok-in-the-url-5f1e9a"
    settings = make_settings(
        runtime.url, auth_mode="token", auth_tokens=f"alice:{token}", ws_query_token=True, log_level="DEBUG"
    )
    configure_logging("gateway", settings.log_level, settings.secrets())
    async with serving(settings) as gateway:
        async with connect(gateway.ws(f"/api/v1/ws/new_1?access_token={token}&protocol=2")) as ws:
            await ws.send('{"type":"user_message","content":"hi"}')
            while orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "done":
                pass
        # A wrong token is not a configured secret, so only the query-string stripping keeps it out.
        unknown = "tok-nobody-knows-77c2d1"
        async with connect(gateway.ws(f"/ws/new_2?access_token={unknown}")) as ws:
            with contextlib.suppress(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1008
        async with gateway.client() as http:
            await http.get(f"/api/v1/sessions?access_token={token}", headers={"Authorization": f"Bearer {token}"})
    output = capsys.readouterr().out
    assert '"WebSocket /ws/new_2' in output
    assert unknown not in output
    assert '"WebSocket /api/v1/ws/new_1' in output  # the handshake was logged, without its query string
    assert "/api/v1/sessions" in output
    assert token not in output
