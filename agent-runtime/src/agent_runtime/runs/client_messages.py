"""Idempotent ``user_message``: a ``client_message_id`` is unique per session. The same id with the same content
gets the original answer (replayed from the event log), with other content 422, while the original runs 409.

Stored in SQL (``client_messages``) by the ``RegisterClientMessage`` command in the step that appends the user
message, and its ``done`` by ``FinishRun``, so it holds across restarts and replicas; a short in-process table
answers 409 for ids whose work is queued or running here, and with several replicas the session's durable inbox for
ids queued for the turn another replica runs (``runs/inbox.py``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agent_runtime.application.ports import ClientMessage, UnitOfWork, UnitOfWorkFactory
from agent_runtime.application.session_handlers import digest
from agent_runtime.domain.errors import Conflict, RuleViolation

PAGE = 500


@dataclass(frozen=True, slots=True)
class Answered:
    """The original answer: ``done`` resolves to its last seq; ``replay`` = (after, until) in the event log."""

    done: asyncio.Future[int]
    replay: tuple[int, int]


class ClientMessageIds:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uows = uow_factory
        self._pending: dict[tuple[str, str], str] = {}
        self.inbox = False  # several replicas: an id waiting in its session's durable inbox is in progress too

    async def claim(self, session_id: str, client_message_id: str, content: str) -> Answered | None:
        """None when the id is new (it is then pending here until ``release``); the original answer when it was
        already answered; raises 422 for other content and 409 while the original runs or waits (here, or in the
        session's inbox for another replica)."""
        key, mine = (session_id, client_message_id), digest(content)
        pending = self._pending.get(key)
        if pending is not None:
            self._refuse_other_content(pending, mine)
            raise _in_progress()
        async with self._uows(write=False) as uow:
            record = await uow.client_messages.get(session_id, client_message_id)
            if record is None:
                queued = await uow.inbox.get(session_id, client_message_id) if self.inbox else None
                if queued is not None:
                    self._refuse_other_content(digest(str(queued.frame["message"]["content"])), mine)
                    raise _in_progress()
                self._pending[key] = mine
                return None
            self._refuse_other_content(record.digest, mine)
            until = await _until(uow, record)
        if until is None:
            raise _in_progress()
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.set_result(until)
        return Answered(done, (record.after_seq, until))

    async def answer(self, session_id: str, client_message_id: str) -> tuple[int, int | None] | None:
        """Where the answer to the message with this id lies in the event log: (after, until), ``until`` None while
        it runs; None when no message with this id was run."""
        async with self._uows(write=False) as uow:
            record = await uow.client_messages.get(session_id, client_message_id)
            if record is None:
                return None
            return record.after_seq, await _until(uow, record)

    def release(self, session_id: str, client_message_id: str) -> None:
        self._pending.pop((session_id, client_message_id), None)

    @staticmethod
    def _refuse_other_content(original: str, mine: str) -> None:
        if original != mine:
            raise RuleViolation("this client_message_id was used with different content", code="idempotency_mismatch")


def _in_progress() -> Conflict:
    return Conflict("the message with this client_message_id is still being processed", code="in_progress")


async def _until(uow: UnitOfWork, record: ClientMessage) -> int | None:
    return record.done_seq or await first_done(uow, record.session_id, record.after_seq)


async def first_done(uow: UnitOfWork, session_id: str, after: int) -> int | None:
    """The first ``done`` logged after ``after``: the end of a run whose finish could not record its id (a crash
    or restart ended it), or that another replica finished (``RunEngine``, a lost lease)."""
    while True:
        page = await uow.events.after(session_id, after, PAGE)
        for event in page:
            if event.type == "done":
                return event.seq
        if len(page) < PAGE:
            return None
        after = page[-1].seq
