"""The run engine's part of the composition root: policies, model caller and loop built from the settings and the
parts `app.py` shares (the agent catalogue, the command bus and the session stream, unit of work, writer lock,
llm-proxy client)."""

from __future__ import annotations

from agent_runtime.agents.catalogue import Catalogue
from agent_runtime.agents.loop_guard import LoopGuard
from agent_runtime.agents.routing import Router
from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.ports import LLMClient, UnitOfWorkFactory, WriterLock
from agent_runtime.application.session_stream import SessionStream
from agent_runtime.guardrails.approval_policy import ApprovalPolicy, load_policy
from agent_runtime.runs.engine import RunEngine
from agent_runtime.runs.model import CircuitBreaker, Classifier, ModelCaller
from agent_runtime.runs.services import ContextWindows, RunSettings, Services
from agent_runtime.settings import Settings


def build_run_engine(
    settings: Settings,
    *,
    catalogue: Catalogue,
    commands: CommandBus,
    stream: SessionStream,
    uows: UnitOfWorkFactory,
    lock: WriterLock,
    llm: LLMClient,
    windows: ContextWindows,
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
        commands=commands,
        stream=stream,
        windows=windows,
        guard=LoopGuard(settings.max_tool_rounds, settings.max_identical_calls),
        settings=RunSettings(
            default_model=settings.llm_model,
            default_context_window=settings.context_window,
            reply_reserve_tokens=settings.reply_reserve_tokens,
            approval_ttl_seconds=settings.approval_ttl_seconds,
        ),
    )
    return RunEngine(services, uows, lock)
