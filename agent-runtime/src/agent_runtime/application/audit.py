"""The persisted audit log: a bus subscriber writing each domain event after its command committed."""

from __future__ import annotations

from agent_runtime.application.event_bus import Envelope
from agent_runtime.application.ports import AuditEntry, UnitOfWorkFactory

AUDITED_CATEGORIES = ("session", "message", "agent", "approval", "plan", "tool", "run", "usage")


class AuditTrail:
    def __init__(self, uows: UnitOfWorkFactory) -> None:
        self._uows = uows

    async def on_event(self, envelope: Envelope) -> None:
        event = envelope.event
        entry = AuditEntry(
            event_type=event.type,
            category=event.category,
            session_id=event.session_id,
            payload=event.payload(),
            correlation_id=envelope.correlation_id,
            causation_id=envelope.causation_id,
            created_at=event.occurred_at,
        )
        async with self._uows() as uow:
            await uow.records.add_audit([entry])
            await uow.commit()
