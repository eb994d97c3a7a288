"""Handlers for the session's own life: create, rename, delete, messages, runs (their start, the client message id
they answer, their end with ``done``), agent switches, what its client declared and the "always" rules it gave."""

from __future__ import annotations

import hashlib

from agent_runtime.application import chunks
from agent_runtime.application.command_bus import HandlerContext
from agent_runtime.application.commands import (
    AdoptAgent,
    AppendMessage,
    ConsumeQueuedMessage,
    CreateSession,
    DeclareClientTools,
    DeleteSession,
    FinishRun,
    QueueMessage,
    RefuseFrame,
    RegisterClientMessage,
    RememberRule,
    RenameSession,
    StartRun,
    SwitchAgent,
)
from agent_runtime.application.ports import ClientMessage, UsageEntry
from agent_runtime.domain.agent_context import AgentContext
from agent_runtime.domain.errors import Conflict, NotFound, RuleViolation
from agent_runtime.domain.events import UsageRecorded
from agent_runtime.domain.run import Run, StopReason
from agent_runtime.domain.session import Session


async def create_session(command: CreateSession, ctx: HandlerContext) -> Session:
    session_id = command.session_id
    if await ctx.uow.sessions.get(session_id, include_deleted=True) is not None:
        raise Conflict(f"session {session_id} already exists", code="session_exists")
    session = Session.create(
        session_id, owner=command.subject, now=ctx.now, title=command.title, agent=ctx.catalogue.entry
    )
    await ctx.uow.sessions.add(session)
    ctx.collect(session)
    if command.announce:
        await ctx.log(session_id, chunks.session_info(session_id))
    return session


async def rename_session(command: RenameSession, ctx: HandlerContext) -> Session:
    session = await ctx.session(command.session_id)
    session.rename(command.title, ctx.now)
    await ctx.uow.sessions.save(session)
    ctx.collect(session)
    return session


async def delete_session(command: DeleteSession, ctx: HandlerContext) -> None:
    session = await ctx.session(command.session_id)
    session.delete(ctx.now, command.reason)
    await ctx.uow.sessions.save(session)
    ctx.collect(session)


async def append_message(command: AppendMessage, ctx: HandlerContext) -> int:
    """Append the message at the session's next position (the first user message names the session); a shown one is
    logged too."""
    session = await ctx.session(command.session_id)
    message = command.message
    position = session.note_message(message.role, message.content, ctx.now)
    await ctx.uow.messages.append(session.id, position, message)
    await ctx.uow.sessions.save(session)
    ctx.collect(session)
    if command.shown:
        if message.role != "assistant" or not message.content or message.agent is None:
            raise ValueError("only an assistant message with its text and agent can be shown")
        await ctx.log(session.id, chunks.final_message(message.content, message.agent))
    return position


def digest(content: str) -> str:
    """What a repeated client message id is compared by: the digest of the message's content."""
    return hashlib.sha256(content.encode()).hexdigest()


async def start_run(command: StartRun, ctx: HandlerContext) -> Run:
    session = await ctx.session(command.session_id)
    run = Run.start(run_id=ctx.new_id(), session_id=session.id, agent=session.current_agent, now=ctx.now)
    await ctx.uow.runs.add(run)
    ctx.collect(run)
    return run


async def register_client_message(command: RegisterClientMessage, ctx: HandlerContext) -> None:
    """Issue it before anything of the answer is logged: the answer starts after the session's current seq."""
    session_id = command.session_id
    after = await ctx.uow.sessions.allocate_seq(session_id, 0)
    entry = ClientMessage(session_id, command.client_message_id, digest(command.content), after, ctx.now)
    await ctx.uow.client_messages.add(entry)


async def refuse_frame(command: RefuseFrame, ctx: HandlerContext) -> None:
    await ctx.log(command.session_id, chunks.error(command.message, command.code))


async def queue_message(command: QueueMessage, ctx: HandlerContext) -> int:
    session_id = command.session_id
    entry = await ctx.uow.inbox.add(session_id, command.subject, command.client_message_id, command.frame, ctx.now)
    if entry is None:
        raise Conflict("the message with this client_message_id is still being processed", code="in_progress")
    return entry


async def consume_queued_message(command: ConsumeQueuedMessage, ctx: HandlerContext) -> None:
    if not await ctx.uow.inbox.remove(command.entry_id):
        raise Conflict("the queued message was run by another replica", code="in_progress")


async def finish_run(command: FinishRun, ctx: HandlerContext) -> int:
    """The run's stop, ``error``, usage record and ``done``, in this order, in the caller's transaction; returns the
    seq of ``done`` (what a client waits for)."""
    session_id = command.session_id
    if command.run_id is not None:
        run = await ctx.uow.runs.get(command.run_id)
        if run is None or run.session_id != session_id:
            raise NotFound(f"no run {command.run_id} in session {session_id}", code="unknown_run")
        if run.is_running:
            run.stop(command.reason, ctx.now, command.error)
            await ctx.uow.runs.save(run)
            ctx.collect(run)
    if command.error is not None:
        await ctx.log(session_id, chunks.error(command.error, command.code or "run_failed"))
    prompt, completion = command.prompt_tokens, command.completion_tokens
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if command.model is not None:
        entry = UsageEntry(
            session_id=session_id,
            model=command.model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            duration_ms=command.duration_ms,
            created_at=ctx.now,
        )
        await ctx.uow.records.add_usage(entry)
        recorded = UsageRecorded(
            session_id=session_id,
            occurred_at=ctx.now,
            model=entry.model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            duration_ms=entry.duration_ms,
        )
        ctx.raised.append(recorded)
    cut = command.model_finish if command.reason is StopReason.COMPLETED else None
    done_seq = await ctx.log(session_id, chunks.done(command.reason.value, usage, cut))
    if command.client_message_id is not None:
        await ctx.uow.client_messages.finish(session_id, command.client_message_id, done_seq)
    return done_seq


async def switch_agent(command: SwitchAgent, ctx: HandlerContext) -> AgentContext:
    """Switch the session's agent (one of the catalogue's) and log ``agent_switched``; returns the session's agent
    context (the same object for every command of the step)."""
    if command.to_agent not in ctx.catalogue:
        known = ", ".join(ctx.catalogue.agents)
        raise RuleViolation(f"unknown agent {command.to_agent!r}; known: {known}", code="unknown_agent")
    session = await ctx.session(command.session_id)
    context = await ctx.agent_context(session)
    switch = context.switch(command.to_agent, reason=command.reason, now=ctx.now, confidence=command.confidence)
    await ctx.uow.agents.save(context)
    session.current_agent = context.current_agent
    ctx.collect(context)
    await ctx.log(session.id, chunks.agent_switched(switch))
    return context


async def remember_rule(command: RememberRule, ctx: HandlerContext) -> bool:
    session = await ctx.session(command.session_id)
    added = session.allow_always(command.rule) if command.allow else session.reject_always(command.rule)
    if added:
        await ctx.uow.sessions.save(session)
    return added


async def declare_client_tools(command: DeclareClientTools, ctx: HandlerContext) -> None:
    session = await ctx.session(command.session_id)
    if session.declare_client_tools(command.client_tools):
        await ctx.uow.sessions.save(session)


async def adopt_agent(command: AdoptAgent, ctx: HandlerContext) -> None:
    session = await ctx.session(command.session_id)
    context = await ctx.agent_context(session)
    context.current_agent = session.current_agent = command.agent
    await ctx.uow.sessions.save(session)
