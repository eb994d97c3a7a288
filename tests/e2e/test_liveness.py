"""No silent hangs, over real processes: a stopped llm-proxy or agent runtime (SIGSTOP keeps its sockets open, so
only silence gives it away) ends the turn with an error frame within the configured bound, while a model that is
merely silent before its first token, for longer than that bound, still answers: the hops prove they are alive
with heartbeats. Every wait is bounded; a stopped process is always continued."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.conftest import PLANTED_KEY
from tests.e2e.system import Service, System, start_system

BOUND = 2.0  # seconds of silence each hop tolerates here (the default is 45)
MARGIN = 8.0  # what a shared, loaded machine may add on top of it
FRAME_WAIT = 30.0

SHORT_BOUNDS = {
    "LLM_PROXY__HEARTBEAT_INTERVAL_S": "0.25",
    "AGENT_RUNTIME__HEARTBEAT_INTERVAL": "0.25",
    "AGENT_RUNTIME__LLM_STREAM_TIMEOUT": str(BOUND),
    "AGENT_RUNTIME__MULTI_AGENT_MODE": "false",  # one model call per turn: the timings are the turn's own
    "GATEWAY__AGENT_STREAM_TIMEOUT": str(BOUND),
    "GATEWAY__AGENT_REST_TIMEOUT": str(BOUND),
}


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    running = start_system(Path(tmp_path_factory.mktemp("liveness")), PLANTED_KEY, SHORT_BOUNDS)
    yield running
    running.stop()


@contextlib.contextmanager
def stopped(service: Service) -> Iterator[None]:
    """The service's process frozen (SIGSTOP) for the duration of the block, and always continued after it."""
    assert service.process is not None
    os.kill(service.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(service.process.pid, signal.SIGCONT)


async def next_frame(ws: websockets.ClientConnection, wanted: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first frame ``wanted`` accepts, and every frame received up to it."""
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(FRAME_WAIT):
        while True:
            frame = json.loads(await ws.recv())
            received.append(frame)
            if wanted(frame):
                return frame, received


def is_delta(frame: dict[str, Any]) -> bool:
    return frame["type"] == "assistant_message" and frame.get("is_final") is False


async def turn(ws: websockets.ClientConnection, content: str) -> list[dict[str, Any]]:
    await ws.send(json.dumps({"type": "user_message", "content": content}))
    _, frames = await next_frame(ws, lambda f: f["type"] == "done")
    return frames


async def test_a_model_silent_longer_than_the_bound_still_answers(bounded: System) -> None:
    thinking = BOUND * 2  # the mock says nothing for this long before its first token
    async with websockets.connect(bounded.ws_url("live-thinker", "?protocol=2")) as ws:
        frames = await turn(ws, f"a considered answer [[ttft_ms:{int(thinking * 1000)}]]")
    final = [f for f in frames if f["type"] == "assistant_message" and f.get("is_final")]
    assert [f["content"] for f in final] == ["a considered answer"]
    assert frames[-1]["stop_reason"] == "completed"
    assert not [f for f in frames if f["type"] == "error"]


async def test_a_stopped_proxy_ends_the_turn_with_an_error_within_the_bound(bounded: System) -> None:
    async with websockets.connect(bounded.ws_url("live-proxy-stop", "?protocol=2")) as ws:
        await ws.send(json.dumps({"type": "user_message", "content": "one two three four five [[delay_ms:300]]"}))
        await next_frame(ws, is_delta)
        with stopped(bounded.proxy):
            frozen_at = time.monotonic()
            error, _ = await next_frame(ws, lambda f: f["type"] == "error")
            noticed = time.monotonic() - frozen_at
            done, _ = await next_frame(ws, lambda f: f["type"] == "done")
        assert BOUND / 2 <= noticed < BOUND + MARGIN
        assert "llm-proxy stopped answering" in error["content"]
        assert error["metadata"]["code"] == "llm_stream_failed"
        assert done["stop_reason"] == "error"
        # The session is usable at once: the next message is not queued behind a turn that never ends.
        frames = await turn(ws, "back again")
    assert not [f for f in frames if f["type"] == "status"]
    assert frames[-1]["stop_reason"] == "completed"
    assert [f["content"] for f in frames if f["type"] == "assistant_message" and f.get("is_final")] == ["back again"]


async def test_a_stopped_runtime_is_reported_by_the_gateway_within_the_bound(bounded: System) -> None:
    async with websockets.connect(bounded.ws_url("live-runtime-stop", "?protocol=2")) as ws:
        await ws.send(json.dumps({"type": "user_message", "content": "slow words to relay [[delay_ms:300]]"}))
        await next_frame(ws, is_delta)
        with stopped(bounded.runtime):
            frozen_at = time.monotonic()
            error, _ = await next_frame(ws, lambda f: f["type"] == "error")
            noticed = time.monotonic() - frozen_at
            async with httpx.AsyncClient(timeout=FRAME_WAIT) as client:
                rest = await client.get(f"{bounded.gateway.url}/api/v1/sessions")
        assert BOUND / 2 <= noticed < BOUND + MARGIN
        assert "seq" not in error  # the gateway's own frame: this socket's relay of that turn is over
        assert "agent runtime stopped answering" in error["content"]
        assert rest.status_code == 504
        assert rest.json()["error"]["code"] == "upstream_unavailable"
        # Continued, the runtime serves the session again (the turn it was in finishes first).
        await ws.send(json.dumps({"type": "user_message", "content": "and now"}))
        answer, _ = await next_frame(ws, lambda f: f.get("is_final") is True and f.get("content") == "and now")
    assert answer["type"] == "assistant_message"
