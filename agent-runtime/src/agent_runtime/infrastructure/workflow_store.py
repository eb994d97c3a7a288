"""SQL repositories for approvals, plans, runs and tool calls."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from agent_runtime.domain.approval import Approval, ApprovalKind, ApprovalStatus
from agent_runtime.domain.plan import Plan, PlanStatus, Subtask, SubtaskStatus
from agent_runtime.domain.run import Run, RunStatus, StopReason
from agent_runtime.domain.tool_call import IssuedToolCall
from agent_runtime.infrastructure import tables as t
from agent_runtime.infrastructure.loop_sqlite import SqlConnection, prepared
from agent_runtime.infrastructure.session_store import maybe_utc, utc

_APPROVAL_FIELDS = ("status", "modified_arguments", "feedback", "decided_at")


def _approval(row: Any) -> Approval:
    return Approval(
        id=row.id,
        session_id=row.session_id,
        kind=ApprovalKind(row.kind),
        call_id=row.call_id,
        tool_name=row.tool_name,
        arguments=row.arguments,
        reason=row.reason,
        created_at=utc(row.created_at),
        plan_id=row.plan_id,
        status=ApprovalStatus(row.status),
        modified_arguments=row.modified_arguments,
        feedback=row.feedback,
        decided_at=maybe_utc(row.decided_at),
    )


class SqlAlchemyApprovalRepository:
    def __init__(self, connection: SqlConnection) -> None:
        self._db = connection

    async def add(self, approval: Approval) -> None:
        values = {
            name: getattr(approval, name)
            for name in ("id", "session_id", "call_id", "tool_name", "arguments", "reason", "plan_id", "created_at")
        }
        values.update({name: getattr(approval, name) for name in _APPROVAL_FIELDS}, kind=approval.kind.value)
        values["status"] = approval.status.value
        await self._db.execute(insert(t.approvals).values(**values))

    async def get(self, approval_id: str) -> Approval | None:
        row = (await self._db.execute(select(t.approvals).where(t.approvals.c.id == approval_id))).first()
        return None if row is None else _approval(row)

    async def for_call(self, session_id: str, call_id: str) -> Approval | None:
        query = (
            select(t.approvals)
            .where(t.approvals.c.session_id == session_id, t.approvals.c.call_id == call_id)
            .order_by(t.approvals.c.created_at.desc())
        )
        row = (await self._db.execute(query)).first()
        return None if row is None else _approval(row)

    async def save(self, approval: Approval) -> None:
        values = {name: getattr(approval, name) for name in _APPROVAL_FIELDS}
        values["status"] = approval.status.value
        await self._db.execute(update(t.approvals).where(t.approvals.c.id == approval.id).values(**values))

    async def pending(self, session_id: str) -> list[Approval]:
        query = (
            select(t.approvals)
            .where(t.approvals.c.session_id == session_id, t.approvals.c.status == ApprovalStatus.PENDING.value)
            .order_by(t.approvals.c.created_at, t.approvals.c.id)
        )
        return [_approval(r) for r in (await self._db.execute(query)).all()]

    async def stale(self, before: datetime, limit: int) -> list[str]:
        query = (
            select(t.approvals.c.session_id)
            .join(t.sessions, t.sessions.c.id == t.approvals.c.session_id)
            .where(
                t.approvals.c.status == ApprovalStatus.PENDING.value,
                t.approvals.c.created_at < before,
                t.sessions.c.deleted_at.is_(None),
            )
            .group_by(t.approvals.c.session_id)
            .order_by(func.min(t.approvals.c.created_at))
            .limit(limit)
        )
        return [str(row[0]) for row in (await self._db.execute(query)).all()]


def _subtasks_json(plan: Plan) -> list[dict[str, Any]]:
    return [{**asdict(s), "dependencies": list(s.dependencies), "status": s.status.value} for s in plan.subtasks]


class SqlAlchemyPlanRepository:
    """A plan and its few subtasks are one document; subtasks are small and always read together."""

    def __init__(self, connection: SqlConnection) -> None:
        self._db = connection

    async def add(self, plan: Plan) -> None:
        await self._db.execute(
            insert(t.plans).values(
                id=plan.id,
                session_id=plan.session_id,
                goal=plan.goal,
                status=plan.status.value,
                subtasks=_subtasks_json(plan),
                created_at=plan.created_at,
                updated_at=plan.updated_at,
            )
        )

    async def get(self, plan_id: str) -> Plan | None:
        row = (await self._db.execute(select(t.plans).where(t.plans.c.id == plan_id))).first()
        if row is None:
            return None
        subtasks = [
            Subtask(**{**s, "dependencies": tuple(s["dependencies"]), "status": SubtaskStatus(s["status"])})
            for s in row.subtasks
        ]
        return Plan(
            id=row.id,
            session_id=row.session_id,
            goal=row.goal,
            subtasks=subtasks,
            created_at=utc(row.created_at),
            updated_at=utc(row.updated_at),
            status=PlanStatus(row.status),
        )

    async def save(self, plan: Plan) -> None:
        await self._db.execute(
            update(t.plans)
            .where(t.plans.c.id == plan.id)
            .values(status=plan.status.value, subtasks=_subtasks_json(plan), updated_at=plan.updated_at)
        )


def _run(row: Any) -> Run:
    return Run(
        id=row.id,
        session_id=row.session_id,
        agent=row.agent,
        started_at=utc(row.started_at),
        status=RunStatus(row.status),
        stop_reason=None if row.stop_reason is None else StopReason(row.stop_reason),
        error=row.error,
        ended_at=maybe_utc(row.ended_at),
    )


# Built once (see session_store): a run starts, is read and stops in every turn.
_INSERT_RUN = prepared(insert(t.runs))
_SAVE_RUN = prepared(update(t.runs).where(t.runs.c.id == bindparam("_id")))
_GET_RUN = prepared(select(t.runs).where(t.runs.c.id == bindparam("_id")))


class SqlAlchemyRunRepository:
    def __init__(self, connection: SqlConnection) -> None:
        self._db = connection

    def _values(self, run: Run) -> dict[str, Any]:
        return {
            "status": run.status.value,
            "stop_reason": None if run.stop_reason is None else run.stop_reason.value,
            "error": run.error,
            "ended_at": run.ended_at,
        }

    async def add(self, run: Run) -> None:
        row = {"id": run.id, "session_id": run.session_id, "agent": run.agent, "started_at": run.started_at}
        await self._db.execute(_INSERT_RUN, {**row, **self._values(run)})

    async def get(self, run_id: str) -> Run | None:
        row = (await self._db.execute(_GET_RUN, {"_id": run_id})).first()
        return None if row is None else _run(row)

    async def save(self, run: Run) -> None:
        await self._db.execute(_SAVE_RUN, {"_id": run.id, **self._values(run)})

    async def running(self) -> list[Run]:
        query = select(t.runs).where(t.runs.c.status == RunStatus.RUNNING.value).order_by(t.runs.c.started_at)
        return [_run(r) for r in (await self._db.execute(query)).all()]

    async def unleased(self) -> list[Run]:
        leases = t.session_leases
        live = select(leases.c.session_id).where(
            leases.c.session_id == t.runs.c.session_id, leases.c.expires_at > func.now()
        )
        query = (
            select(t.runs)
            .where(t.runs.c.status == RunStatus.RUNNING.value, ~live.exists())
            .order_by(t.runs.c.started_at)
        )
        return [_run(r) for r in (await self._db.execute(query)).all()]


def _tool_call(row: Any) -> IssuedToolCall:
    return IssuedToolCall(
        call_id=row.call_id,
        session_id=row.session_id,
        tool_name=row.tool_name,
        arguments=row.arguments,
        requires_approval=row.requires_approval,
        created_at=utc(row.created_at),
        run_id=row.run_id,
        approval_id=row.approval_id,
        result=row.result,
        error=row.error,
        completed_at=maybe_utc(row.completed_at),
    )


class SqlAlchemyToolCallRepository:
    def __init__(self, connection: SqlConnection) -> None:
        self._db = connection

    async def add(self, call: IssuedToolCall) -> None:
        names = ("call_id", "session_id", "tool_name", "arguments", "requires_approval", "created_at", "run_id")
        values = {name: getattr(call, name) for name in names}
        await self._db.execute(insert(t.tool_calls).values(approval_id=call.approval_id, **values))

    async def get(self, session_id: str, call_id: str) -> IssuedToolCall | None:
        query = select(t.tool_calls).where(t.tool_calls.c.session_id == session_id, t.tool_calls.c.call_id == call_id)
        row = (await self._db.execute(query)).first()
        return None if row is None else _tool_call(row)

    async def save(self, call: IssuedToolCall) -> None:
        await self._db.execute(
            update(t.tool_calls)
            .where(t.tool_calls.c.session_id == call.session_id, t.tool_calls.c.call_id == call.call_id)
            .values(
                arguments=call.arguments,
                result=call.result,
                error=call.error,
                completed_at=call.completed_at,
                approval_id=call.approval_id,
            )
        )

    async def outstanding(self, session_id: str) -> list[IssuedToolCall]:
        query = (
            select(t.tool_calls)
            .where(t.tool_calls.c.session_id == session_id, t.tool_calls.c.completed_at.is_(None))
            .order_by(t.tool_calls.c.created_at)
        )
        return [_tool_call(r) for r in (await self._db.execute(query)).all()]
