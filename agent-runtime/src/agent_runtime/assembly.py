"""The run engine's part of the composition root: policies, model caller and loop built from the settings and the
parts `app.py` shares (the agent catalogue, unit of work, bus, fan-out, writer lock, llm-proxy client)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from agent_runtime.agents.catalogue import Catalogue
from agent_runtime.agents.loop_guard import LoopGuard
from agent_runtime.agents.routing import Router
from agent_runtime.application.ports import LLMClient, UnitOfWorkFactory, WriterLock
from agent_runtime.guardrails.approval import ApprovalPolicy, load_policy
from agent_runtime.runs.engine import RunEngine
from agent_runtime.runs.journal import EventPublisher, Journal, LiveFanout
from agent_runtime.runs.loop import AgentLoop
from agent_runtime.runs.model import CircuitBreaker, Classifier, ModelCaller
from agent_runtime.runs.services import ContextWindows, RunSettings, Services
from agent_runtime.settings import Settings


def build_run_engine(
    settings: Settings,
    *,
    catalogue: Catalogue,
    uows: UnitOfWorkFactory,
    events: EventPublisher,
    fanout: LiveFanout,
    lock: WriterLock,
    llm: LLMClient,
    windows: ContextWindows,
    clock: Callable[[], datetime],
) -> RunEngine:
    policy = load_policy(settings.approval_file) if settings.approval_file else ApprovalPolicy()
    breaker = CircuitBreaker(threshold=settings.llm_breaker_threshold, cooldown=settings.llm_breaker_cooldown)
    caller = ModelCaller(llm, retries=settings.llm_retries, backoff=settings.llm_retry_backoff, breaker=breaker)
    classifier = Classifier(caller, settings.router_model or settings.llm_model)
    router = Router(classifier, catalogue, keyword_shortcut=settings.router_keyword_shortcut)
    services = Services(
        catalogue=catalogue,
        policy=policy,
        router=router,
        caller=caller,
        journal=Journal(uows, events, fanout, clock, catalogue),
        windows=windows,
        guard=LoopGuard(settings.max_tool_rounds, settings.max_identical_calls),
        settings=RunSettings(
            default_model=settings.llm_model,
            default_context_window=settings.context_window,
            reply_reserve_tokens=settings.reply_reserve_tokens,
            approval_ttl_seconds=settings.approval_ttl_seconds,
        ),
    )
    return RunEngine(AgentLoop(services), uows, lock)
