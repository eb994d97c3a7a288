"""Handlers for the session's own life: create, rename, delete, messages, runs, agent switches, what its client
declared and the "always" rules it gave."""

from __future__ import annotations

from agent_runtime.application import chunks
from agent_runtime.application.command_bus import HandlerContext
from agent_runtime.application.commands import (
    AdoptAgent,
    AppendMessage,
    CreateSession,
    DeclareClientTools,
    DeleteSession,
    RememberRule,
    RenameSession,
    StartRun,
    SwitchAgent,
)
from agent_runtime.domain.agent_context import AgentContext
from agent_runtime.domain.errors import Conflict, RuleViolation
from agent_runtime.domain.run import Run
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
    """Append the message at the session's next position (the first user message names the session)."""
    session = await ctx.session(command.session_id)
    message = command.message
    position = session.note_message(message.role, message.content, ctx.now)
    await ctx.uow.messages.append(session.id, position, message)
    await ctx.uow.sessions.save(session)
    ctx.collect(session)
    return position


async def start_run(command: StartRun, ctx: HandlerContext) -> Run:
    session = await ctx.session(command.session_id)
    run = Run.start(run_id=ctx.new_id(), session_id=session.id, agent=session.current_agent, now=ctx.now)
    await ctx.uow.runs.add(run)
    ctx.collect(run)
    return run


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
