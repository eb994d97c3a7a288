"""The chat session: title, activity, the owner, soft delete."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent_runtime.domain.client_tools import ClientTools
from agent_runtime.domain.errors import NotFound, RuleViolation
from agent_runtime.domain.events import EventSource, MessageAppended, SessionCreated, SessionDeleted, SessionRenamed

TITLE_LENGTH = 80

# A session id's format, the one definition (REST bodies and paths, v2 frames): what the id columns hold.
SESSION_ID_LENGTH = 64  # the id columns are varchar(64): no stored session has a longer id
SESSION_ID_PATTERN = re.compile(rf"^[A-Za-z0-9_.:-]{{1,{SESSION_ID_LENGTH}}}$")
SESSION_ID_RULE = f"1-{SESSION_ID_LENGTH} characters of A-Z a-z 0-9 _ . : -"


def is_session_id(value: object) -> bool:
    """``value`` is a well-formed session id (:data:`SESSION_ID_PATTERN`; ``fullmatch``: Python's ``$`` also
    matches before a final newline, the JSON-schema/pydantic one does not)."""
    return isinstance(value, str) and SESSION_ID_PATTERN.fullmatch(value) is not None


@dataclass(kw_only=True)
class Session(EventSource):
    """A conversation. Messages live in their own append-only store; the session keeps their count."""

    id: str
    owner: str | None
    title: str | None
    description: str | None
    current_agent: str
    created_at: datetime
    updated_at: datetime
    last_activity: datetime
    is_active: bool = True
    deleted_at: datetime | None = None
    message_count: int = 0
    client_tools: ClientTools | None = None  # what its client declared it executes; None: never declared
    approval_rules: tuple[str, ...] = ()  # "always allow" rules its client granted (guardrails rule syntax)
    denied_rules: tuple[str, ...] = ()  # "always reject" rules its client gave (the same syntax)

    @classmethod
    def create(
        cls, session_id: str, *, owner: str | None, now: datetime, agent: str, title: str | None = None
    ) -> Session:
        """A new session talking to ``agent`` (the catalogue's entry agent)."""
        if title is not None:
            _check_title(title)
        session = cls(
            id=session_id,
            owner=owner,
            title=title,
            description=None,
            current_agent=agent,
            created_at=now,
            updated_at=now,
            last_activity=now,
        )
        session.record(SessionCreated(session_id=session_id, occurred_at=now, owner=owner))
        return session

    def check_access(self, subject: str | None) -> None:
        """Refuse a subject other than the owner; an absent subject or an unowned session means no check. Another
        subject's session is not found, exactly like a missing one, so ids reveal nothing."""
        if subject is not None and self.owner is not None and subject != self.owner:
            raise NotFound(f"session {self.id} not found")

    def rename(self, title: str, now: datetime) -> None:
        title = title.strip()
        if not title:
            raise RuleViolation("a title must not be empty", code="invalid_title")
        _check_title(title)
        self.title = title[:200]
        self.updated_at = now
        self.record(SessionRenamed(session_id=self.id, occurred_at=now, title=self.title))

    def delete(self, now: datetime, reason: str = "requested") -> None:
        if self.deleted_at is not None:
            return
        self.deleted_at = now
        self.is_active = False
        self.updated_at = now
        self.record(SessionDeleted(session_id=self.id, occurred_at=now, reason=reason))

    def note_message(self, role: str, content: str | None, now: datetime) -> int:
        """Count one appended message and return its position; the first user message names the session."""
        self.message_count += 1
        self.last_activity = now
        self.updated_at = now
        if role == "user" and not self.title and content:
            line = " ".join(content.replace("\x00", " ").split())  # a label: NUL is not text a title can show
            self.title = line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"
        self.record(MessageAppended(session_id=self.id, occurred_at=now, role=role, position=self.message_count))
        return self.message_count

    def reject_always(self, rule: str) -> bool:
        """Remember an "always reject" rule of this session's client; whether it is new."""
        if rule in self.denied_rules:
            return False
        self.denied_rules = (*self.denied_rules, rule)
        return True

    def allow_always(self, rule: str) -> bool:
        """Remember an "always allow" rule of this session's client; whether it is new."""
        if rule in self.approval_rules:
            return False
        self.approval_rules = (*self.approval_rules, rule)
        return True

    def declare_client_tools(self, tools: ClientTools) -> bool:
        """Remember the tools the session's client executes (the latest declaration wins); whether it changed."""
        if tools == self.client_tools:
            return False
        self.client_tools = tools
        return True

    def is_idle(self, now: datetime, ttl: timedelta) -> bool:
        return self.deleted_at is None and now - self.last_activity > ttl


def _check_title(title: str) -> None:
    if "\x00" in title:
        raise RuleViolation("a title must not contain a NUL character (U+0000)", code="invalid_title")
