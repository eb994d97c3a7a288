"""The persisted audit log: every domain event of an audited category, written in the transaction of the state
change that raised it (one multi-row insert per transaction), so the log and the state can never disagree and a turn
pays no extra commit per event."""

from __future__ import annotations

from collections.abc import Sequence

from agent_runtime.application.ports import AuditEntry, UnitOfWork
from agent_runtime.domain.events import DomainEvent

AUDITED_CATEGORIES = frozenset({"session", "message", "agent", "approval", "plan", "tool", "run", "usage"})


def audit_entries(events: Sequence[DomainEvent], *, correlation_id: str, causation_id: str | None) -> list[AuditEntry]:
    """The audit rows of ``events`` (those of an audited category), in the order they were raised."""
    return [
        AuditEntry(
            event_type=event.type,
            category=event.category,
            session_id=event.session_id,
            payload=event.payload(),
            correlation_id=correlation_id,
            causation_id=causation_id,
            created_at=event.occurred_at,
        )
        for event in events
        if event.category in AUDITED_CATEGORIES
    ]


async def record_audit(
    uow: UnitOfWork, events: Sequence[DomainEvent], *, correlation_id: str, causation_id: str | None
) -> None:
    """Add the audit rows of ``events`` to ``uow``'s transaction (before its commit)."""
    entries = audit_entries(events, correlation_id=correlation_id, causation_id=causation_id)
    if entries:
        await uow.records.add_audit(entries)
