"""The run engine assembled with in-memory fakes, and a ``send`` that behaves like one POST /agent/message/stream."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.agents.loop_guard import LoopGuard
from agent_runtime.agents.routing import Router
from agent_runtime.api.stream import response_frames
from agent_runtime.application.command_bus import CommandBus, Origin
from agent_runtime.application.event_bus import EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.session_stream import SessionStream
from agent_runtime.domain.events import SessionEventAppended
from agent_runtime.guardrails.approval_policy import ApprovalPolicy
from agent_runtime.runs.client_tools import parse_client_tools
from agent_runtime.runs.engine import RunEngine, Ticket
from agent_runtime.runs.frames import parse_frame
from agent_runtime.runs.model import CircuitBreaker, Classifier, ModelCaller
from agent_runtime.runs.services import RunSettings, Services
from service_kit.sse import SSEDecoder
from tests.fake_llm import FakeLLM
from tests.fakes import FakeLock, FakeUnitOfWorkFactory

SESSION = "s1"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        self.monotonic = 1000.0

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


class FakeWindows:
    def __init__(self, windows: dict[str, int] | None = None) -> None:
        self.windows = windows or {}

    async def window(self, model: str) -> int | None:
        return self.windows.get(model)


class Harness:
    def __init__(
        self,
        *,
        multi_agent: bool = True,
        settings: RunSettings | None = None,
        windows: dict[str, int] | None = None,
        guard: LoopGuard | None = None,
        uows: Any = None,
        model: FakeLLM | None = None,
    ) -> None:
        self.uows = uows or FakeUnitOfWorkFactory()
        self.clock = FakeClock()
        self.bus = EventBus()
        self.fanout = SessionFanout()
        self.bus.subscribe(self.fanout.on_event, event_type=SessionEventAppended)
        self.model = model or FakeLLM()
        self.breaker = CircuitBreaker(threshold=3, cooldown=30.0, clock=lambda: self.clock.monotonic)
        self.caller = ModelCaller(self.model, retries=2, backoff=0.0, breaker=self.breaker)
        catalogue = build_catalogue(multi_agent)
        self.stream = SessionStream(self.uows, self.fanout)
        self.commands = CommandBus(self.uows, FakeLock(), self.bus, HANDLERS, self.clock, catalogue, self.stream)
        self.services = Services(
            catalogue=catalogue,
            policy=ApprovalPolicy(),
            router=Router(Classifier(self.caller, "mock"), catalogue),
            caller=self.caller,
            commands=self.commands,
            stream=self.stream,
            windows=FakeWindows(windows),
            guard=guard or LoopGuard(),
            settings=settings or RunSettings(),
        )
        self.engine = RunEngine(self.services, self.uows, FakeLock())

    async def submit(self, message: dict[str, Any], session_id: str = SESSION) -> tuple[Ticket, Any]:
        """Subscribe, then submit (as the route does); returns the ticket and the follower."""
        follower = self.fanout.follow(session_id)
        await self.engine.open_session(session_id)
        origin = Origin(client_tools=parse_client_tools(message))  # as the route reads the frame
        ticket = await self.engine.submit(session_id, parse_frame(message), origin)
        return ticket, follower

    async def read(self, ticket: Ticket, follower: Any, session_id: str = SESSION) -> list[dict[str, Any]]:
        """The chunks of the SSE body production writes for this request (``api.stream.response_frames``)."""
        decoder = SSEDecoder()
        events = []
        async with asyncio.timeout(5):
            async for frames in response_frames(self.fanout, follower, self.uows, session_id, ticket, 60.0):
                events.extend(decoder.feed(frames))
        return [_chunk(int(event.id or -1), event.data) for event in events]

    async def send(self, message: dict[str, Any], session_id: str = SESSION) -> list[dict[str, Any]]:
        ticket, follower = await self.submit(message, session_id)
        return await self.read(ticket, follower, session_id)

    async def stored_history(self, session_id: str = SESSION) -> list[dict[str, Any]]:
        """The history as the unit of work reads it (any implementation)."""
        async with self.uows(write=False) as uow:
            return [m.to_openai() for m in await uow.messages.history(session_id)]

    async def stored_log(self, session_id: str = SESSION) -> list[dict[str, Any]]:
        async with self.uows(write=False) as uow:
            return [_chunk(e.seq, e.data) for e in await uow.events.after(session_id, 0, 10_000)]

    def history(self, session_id: str = SESSION) -> list[dict[str, Any]]:
        return [m.to_openai() for m in self.uows.store.messages.get(session_id, [])]

    def logged(self, session_id: str = SESSION) -> list[dict[str, Any]]:
        return [_chunk(e.seq, e.data) for e in self.uows.store.events.get(session_id, [])]


def _chunk(seq: int, data: bytes) -> dict[str, Any]:
    chunk: dict[str, Any] = orjson.loads(data)
    chunk["seq"] = seq
    return chunk


def shape(chunks: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each chunk reduced to its type and the key that tells it apart, for exact sequence assertions."""
    out: list[tuple[Any, ...]] = []
    for chunk in chunks:
        kind = chunk["type"]
        if kind == "assistant_message":
            out.append(("delta", chunk["token"]) if not chunk["is_final"] else ("final", chunk["content"]))
        elif kind == "tool_call":
            out.append(("tool_call", chunk["tool_name"], chunk["requires_approval"]))
        elif kind == "agent_switched":
            out.append(("agent_switched", chunk["from_agent"], chunk["to_agent"]))
        elif kind == "done":
            out.append(("done", chunk["stop_reason"]))
        elif kind in ("error", "status"):
            out.append((kind, chunk["metadata"].get("code")))
        elif kind == "plan_progress":
            out.append(("plan_progress", chunk["metadata"]["status"]))
        else:
            out.append((kind,))
    return out


def user(content: str, **extra: Any) -> dict[str, Any]:
    return {"type": "user_message", "content": content, "role": "user", "tool_name": None, "call_id": None, **extra}


def tool_result(call_id: str, result: Any = None, error: str | None = None) -> dict[str, Any]:
    return {"type": "tool_result", "call_id": call_id, "tool_name": None, "result": result, "error": error}
