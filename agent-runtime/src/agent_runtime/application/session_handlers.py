"""Handlers for the session's own life: create, rename, delete, messages, runs, agent switches."""

from __future__ import annotations

from agent_runtime.application import chunks
from agent_runtime.application.command_bus import HandlerContext
from agent_runtime.application.commands import (
    AppendAssistantMessage,
    AppendUserMessage,
    CreateSession,
    DeleteSession,
    RenameSession,
    ReserveSeqs,
    StartRun,
    SwitchAgent,
)
from agent_runtime.domain.errors import Conflict, RuleViolation
from agent_runtime.domain.message import Message, ToolCall
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


async def append_user_message(command: AppendUserMessage, ctx: HandlerContext) -> int:
    session = await ctx.session(command.session_id)
    position = session.note_message("user", command.content, ctx.now)
    await ctx.uow.messages.append(
        session.id, position, Message(role="user", content=command.content, created_at=ctx.now)
    )
    await ctx.uow.sessions.save(session)
    ctx.collect(session)
    return position


async def start_run(command: StartRun, ctx: HandlerContext) -> Run:
    session = await ctx.session(command.session_id)
    run = Run.start(run_id=ctx.new_id(), session_id=session.id, agent=session.current_agent, now=ctx.now)
    await ctx.uow.runs.add(run)
    ctx.collect(run)
    return run


async def append_assistant_message(command: AppendAssistantMessage, ctx: HandlerContext) -> int:
    """Append the model's message (folded from its deltas) and log its final chunk when it has text."""
    session = await ctx.session(command.session_id)
    calls = tuple(ToolCall.from_openai(c) for c in command.tool_calls)
    message = Message(
        role="assistant", content=command.content, created_at=ctx.now, tool_calls=calls, agent=command.agent
    )
    position = session.note_message("assistant", command.content, ctx.now)
    await ctx.uow.messages.append(session.id, position, message)
    await ctx.uow.sessions.save(session)
    ctx.collect(session)
    if command.content:
        await ctx.log(session.id, chunks.final_message(command.content, command.agent))
    return position


async def reserve_seqs(command: ReserveSeqs, ctx: HandlerContext) -> range:
    if command.count < 1:
        raise RuleViolation("reserve at least one seq")
    last = await ctx.uow.sessions.allocate_seq(command.session_id, command.count)
    return range(last - command.count + 1, last + 1)


async def switch_agent(command: SwitchAgent, ctx: HandlerContext) -> Session:
    if command.to_agent not in ctx.catalogue:
        known = ", ".join(ctx.catalogue.agents)
        raise RuleViolation(f"unknown agent {command.to_agent!r}; known: {known}", code="unknown_agent")
    session = await ctx.session(command.session_id)
    context = await ctx.uow.agents.get(session)
    switch = context.switch(command.to_agent, reason=command.reason, now=ctx.now, confidence=command.confidence)
    await ctx.uow.agents.save(context)
    session.current_agent = context.current_agent
    ctx.collect(context)
    await ctx.log(session.id, chunks.agent_switched(switch))
    return session
