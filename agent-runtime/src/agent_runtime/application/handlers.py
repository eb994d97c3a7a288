"""The command → handler table the command bus dispatches on."""

from __future__ import annotations

from agent_runtime.application import approval_handlers as a
from agent_runtime.application import commands as c
from agent_runtime.application import plan_handlers as p
from agent_runtime.application import session_handlers as s
from agent_runtime.application.command_bus import Handler

HANDLERS: dict[type[c.Command], Handler] = {
    c.CreateSession: s.create_session,
    c.RenameSession: s.rename_session,
    c.DeleteSession: s.delete_session,
    c.AppendMessage: s.append_message,
    c.StartRun: s.start_run,
    c.RegisterClientMessage: s.register_client_message,
    c.QueueMessage: s.queue_message,
    c.RefuseFrame: s.refuse_frame,
    c.ConsumeQueuedMessage: s.consume_queued_message,
    c.FinishRun: s.finish_run,
    c.SwitchAgent: s.switch_agent,
    c.RememberRule: s.remember_rule,
    c.DeclareClientTools: s.declare_client_tools,
    c.AdoptAgent: s.adopt_agent,
    c.IssueToolCall: a.issue_tool_call,
    c.RefuseToolCall: a.refuse_tool_call,
    c.RecordToolResult: a.record_tool_result,
    c.DecideApproval: a.decide_approval,
    c.EditToolCall: a.edit_tool_call,
    c.AbandonToolCall: a.abandon_tool_call,
    c.ExpireApproval: a.expire_approval,
    c.ProposePlan: p.propose_plan,
    c.DecidePlan: p.decide_plan,
    c.MoveSubtask: p.move_subtask,
    c.CancelPlan: p.cancel_plan,
}
