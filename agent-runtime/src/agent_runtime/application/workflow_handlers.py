"""Handlers for what a run waits on: tool calls and their results, approvals."""

from __future__ import annotations

import orjson

from agent_runtime.application import chunks
from agent_runtime.application.command_bus import HandlerContext
from agent_runtime.application.commands import DecideApproval, IssueToolCall, RecordToolResult
from agent_runtime.domain.approval import Approval, ApprovalKind, Decision
from agent_runtime.domain.errors import Conflict, NotFound
from agent_runtime.domain.message import Message
from agent_runtime.domain.tool_call import IssuedToolCall


async def issue_tool_call(command: IssueToolCall, ctx: HandlerContext) -> IssuedToolCall:
    """Hand a call to the IDE (logged as a ``tool_call`` chunk); a gated call also opens an approval."""
    session = await ctx.session(command.session_id)
    if await ctx.uow.tool_calls.get(session.id, command.call_id) is not None:
        raise Conflict(f"tool call {command.call_id} was already issued", code="duplicate_call")
    approval_id = None
    if command.requires_approval:
        if await ctx.uow.approvals.pending(session.id):
            # The IDE tracks one approval banner only: a second gated call would orphan the first.
            raise Conflict("another approval is still pending in this session", code="approval_pending")
        approval = Approval.request(
            id=ctx.new_id(),
            session_id=session.id,
            kind=ApprovalKind.TOOL,
            call_id=command.call_id,
            tool_name=command.tool_name,
            arguments=command.arguments,
            reason=command.reason,
            created_at=ctx.now,
        )
        await ctx.uow.approvals.add(approval)
        ctx.collect(approval)
        approval_id = approval.id
    call = IssuedToolCall.issue(
        call_id=command.call_id,
        session_id=session.id,
        tool_name=command.tool_name,
        arguments=command.arguments,
        requires_approval=command.requires_approval,
        created_at=ctx.now,
        run_id=command.run_id,
        approval_id=approval_id,
    )
    await ctx.uow.tool_calls.add(call)
    ctx.collect(call)
    await ctx.log(session.id, chunks.tool_call(call.call_id, call.tool_name, call.arguments, approval_id))
    return call


async def record_tool_result(command: RecordToolResult, ctx: HandlerContext) -> bool:
    """Exactly once per call: a repeated result changes nothing and returns False; an unknown call is 404."""
    session = await ctx.session(command.session_id)
    call = await ctx.uow.tool_calls.get(session.id, command.call_id)
    if call is None:
        raise NotFound(f"no tool call {command.call_id} in session {session.id}", code="unknown_call")
    if not call.complete(result=command.result, error=command.error, now=ctx.now):
        return False
    await ctx.uow.tool_calls.save(call)
    ctx.collect(call)
    content = command.error if command.error is not None else orjson.dumps(command.result).decode()
    message = Message(role="tool", content=content, created_at=ctx.now, tool_call_id=call.call_id, name=call.tool_name)
    await ctx.uow.messages.append(session.id, session.note_message("tool", content, ctx.now), message)
    await ctx.uow.sessions.save(session)
    ctx.collect(session)
    approval = await ctx.uow.approvals.for_call(session.id, call.call_id)
    if approval is not None and approval.is_pending:
        approval.decide(Decision.REJECT if command.error is not None else Decision.APPROVE, now=ctx.now)
        await ctx.uow.approvals.save(approval)
        ctx.collect(approval)
    return True


async def decide_approval(command: DecideApproval, ctx: HandlerContext) -> Approval:
    session = await ctx.session(command.session_id)
    approval = await ctx.uow.approvals.for_call(session.id, command.call_id)
    if approval is None:
        approval = await ctx.uow.approvals.get(command.call_id)  # an approval_request_id works too
    if approval is None or approval.session_id != session.id:
        raise NotFound(f"no approval for {command.call_id} in session {session.id}", code="unknown_approval")
    approval.decide(
        command.decision, now=ctx.now, modified_arguments=command.modified_arguments, feedback=command.feedback
    )
    await ctx.uow.approvals.save(approval)
    ctx.collect(approval)
    return approval
