"""What the run engine is built from (one instance per app, made in the composition root), and the small values
passed between its parts: the state of one run and where it stops."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from agent_runtime.agents.catalogue import Agent, Catalogue
from agent_runtime.agents.loop_guard import LoopGuard
from agent_runtime.agents.routing import Router
from agent_runtime.application.command_bus import CommandBus, Origin
from agent_runtime.application.session_stream import SessionStream
from agent_runtime.domain.run import Run, StopReason
from agent_runtime.guardrails.approval_policy import ApprovalPolicy
from agent_runtime.runs.conversation import HistoryCache
from agent_runtime.runs.model import ModelCaller


class ContextWindows(Protocol):
    """Context window sizes by model (the llm-proxy's model list); None when unknown."""

    async def window(self, model: str) -> int | None: ...


@dataclass(frozen=True, slots=True)
class RunSettings:
    default_model: str = "mock"
    default_context_window: int = 32_000
    reply_reserve_tokens: int = 2_000  # room left for the answer and the tool schemas
    approval_ttl_seconds: float | None = None  # pending approvals older than this expire; None = never


@dataclass(frozen=True, slots=True)
class Services:
    catalogue: Catalogue
    policy: ApprovalPolicy
    router: Router
    caller: ModelCaller
    commands: CommandBus  # the one write path: every step of a run is one of its steps
    stream: SessionStream  # the chunks that only go live (deltas, status notes)
    windows: ContextWindows
    guard: LoopGuard = field(default_factory=LoopGuard)
    settings: RunSettings = field(default_factory=RunSettings)
    history: HistoryCache = field(default_factory=HistoryCache)

    def agent(self, agent_id: str) -> Agent:
        """The agent by id; :class:`UnknownAgent` for an id the catalogue does not have (a changed configuration):
        the run ends with ``error{unknown_agent}``, and the session's next message is routed again."""
        return self.catalogue.agent(agent_id)

    def model_for(self, agent: Agent) -> str:
        return agent.model or self.settings.default_model


@dataclass(frozen=True, slots=True)
class Stop:
    """Where this piece of work ends. ``error`` (with ``code``) is logged as an ``error`` chunk before ``done``."""

    reason: StopReason
    error: str | None = None
    code: str | None = None


@dataclass(slots=True)
class RunState:
    """One run: the work one frame started, from its first step to ``done``."""

    run: Run
    origin: Origin
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})
    model: str | None = None
    model_calls: int = 0
    started: float = field(default_factory=time.perf_counter)
    client_message_id: str | None = None  # the run answers this id: its done_seq is recorded with ``done``
    model_finish: str | None = None  # the finish_reason of the run's last model call

    @property
    def session_id(self) -> str:
        return self.run.session_id

    def add_usage(self, usage: dict[str, int]) -> None:
        for key in ("prompt_tokens", "completion_tokens"):
            self.usage[key] += int(usage.get(key, 0))
