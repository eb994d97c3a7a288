"""The SQL schema as SQLAlchemy Core tables. Migrations create it; nothing calls ``create_all`` in production."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect


class StoredText(TypeDecorator[str]):
    """``Text`` that keeps any string, NUL characters included, on both databases.

    PostgreSQL's text cannot hold U+0000 (the insert fails, and a user message with one was lost). There, a value
    that contains one, or begins with the marker, is stored as the marker followed by its JSON string literal
    (``"a\\u0000b"``) and read back to exactly the same string; every other value is stored as is, so nothing
    already stored changes. SQLite stores the value unchanged.
    """

    impl = Text
    cache_ok = True
    MARK = "\ufdd0"  # a Unicode noncharacter (never assigned): no text begins with it except on purpose

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "postgresql" or ("\x00" not in value and not value.startswith(self.MARK)):
            return value
        return self.MARK + orjson.dumps(value).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if isinstance(value, str) and value.startswith(self.MARK) and dialect.name == "postgresql":
            return str(orjson.loads(value[len(self.MARK) :]))
        return value  # type: ignore[no-any-return]


metadata = MetaData()
_ID = 64
_TS = DateTime(timezone=True)
# SQLite only makes INTEGER PRIMARY KEY an autoincrementing rowid; PostgreSQL wants BIGINT for long-lived logs.
_ROWID = BigInteger().with_variant(Integer(), "sqlite")

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("owner", String(1024), nullable=True),  # a subject: up to 1 KiB of UTF-8 (service_kit.subject)
    Column("title", String(200), nullable=True),
    Column("description", StoredText, nullable=True),
    Column("current_agent", String(64), nullable=False),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    Column("last_activity", _TS, nullable=False),
    Column("deleted_at", _TS, nullable=True),
    Column("message_count", Integer, nullable=False, default=0),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("client_tools", JSON, nullable=True),  # ClientTools.to_json(); null: the client never declared
    Column("approval_rules", JSON, nullable=True),  # rule texts an "always allow" granted; null: none
    Column("denied_rules", JSON, nullable=True),  # rule texts an "always reject" gave; null: none
    Index("ix_sessions_owner_activity", "owner", "last_activity"),
    Index("ix_sessions_activity", "last_activity"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", _ROWID, primary_key=True, autoincrement=True),
    Column("session_id", String(_ID), ForeignKey("sessions.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", StoredText, nullable=True),
    Column("name", String(128), nullable=True),
    Column("tool_call_id", String(128), nullable=True),
    Column("tool_calls", JSON, nullable=True),
    Column("agent", String(64), nullable=True),
    Column("created_at", _TS, nullable=False),
    Index("ux_messages_session_position", "session_id", "position", unique=True),
)

agent_switches = Table(
    "agent_switches",
    metadata,
    Column("id", _ROWID, primary_key=True, autoincrement=True),
    Column("session_id", String(_ID), ForeignKey("sessions.id"), nullable=False, index=True),
    Column("from_agent", String(64), nullable=False),
    Column("to_agent", String(64), nullable=False),
    Column("reason", StoredText, nullable=False),
    Column("confidence", Float, nullable=True),
    Column("switched_at", _TS, nullable=False),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("session_id", String(_ID), ForeignKey("sessions.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("call_id", String(128), nullable=False),
    Column("tool_name", String(128), nullable=False),
    Column("arguments", JSON, nullable=False),
    Column("reason", StoredText, nullable=True),
    Column("plan_id", String(_ID), nullable=True),
    Column("status", String(32), nullable=False),
    Column("modified_arguments", JSON, nullable=True),
    Column("feedback", StoredText, nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("decided_at", _TS, nullable=True),
    Index("ix_approvals_session_status", "session_id", "status"),
    Index("ix_approvals_session_call", "session_id", "call_id"),
    Index("ix_approvals_status_created", "status", "created_at"),
)

plans = Table(
    "plans",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("session_id", String(_ID), ForeignKey("sessions.id"), nullable=False, index=True),
    Column("goal", StoredText, nullable=False),
    Column("status", String(32), nullable=False),
    Column("subtasks", JSON, nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("session_id", String(_ID), ForeignKey("sessions.id"), nullable=False, index=True),
    Column("agent", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("stop_reason", String(32), nullable=True),
    Column("error", StoredText, nullable=True),
    Column("started_at", _TS, nullable=False),
    Column("ended_at", _TS, nullable=True),
    Index("ix_runs_status", "status"),
)

tool_calls = Table(
    "tool_calls",
    metadata,
    Column("session_id", String(_ID), ForeignKey("sessions.id"), primary_key=True),
    Column("call_id", String(128), primary_key=True),
    Column("tool_name", String(128), nullable=False),
    Column("arguments", JSON, nullable=False),
    Column("requires_approval", Boolean, nullable=False),
    Column("run_id", String(_ID), nullable=True),
    Column("approval_id", String(_ID), nullable=True),
    Column("result", JSON, nullable=True),
    Column("error", StoredText, nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("completed_at", _TS, nullable=True),
)

session_events = Table(
    "session_events",
    metadata,
    Column("session_id", String(_ID), ForeignKey("sessions.id"), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("type", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", _TS, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _ROWID, primary_key=True, autoincrement=True),
    Column("session_id", String(_ID), nullable=True),
    Column("event_type", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("correlation_id", String(64), nullable=True),
    Column("causation_id", String(64), nullable=True),
    Column("created_at", _TS, nullable=False),
    Index("ix_audit_session", "session_id", "id"),
    Index("ix_audit_type", "event_type", "id"),
)

usage = Table(
    "usage",
    metadata,
    Column("id", _ROWID, primary_key=True, autoincrement=True),
    Column("session_id", String(_ID), nullable=False, index=True),
    Column("model", String(128), nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("total_tokens", Integer, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("created_at", _TS, nullable=False),
)

# ``user_message.client_message_id`` per session: makes a retried submit idempotent across restarts and replicas.
client_messages = Table(
    "client_messages",
    metadata,
    Column("session_id", String(_ID), ForeignKey("sessions.id"), primary_key=True),
    Column("client_message_id", String(128), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("after_seq", BigInteger, nullable=False),
    Column("done_seq", BigInteger, nullable=True),
    Column("created_at", _TS, nullable=False),
)

# Which replica writes a session, until when (``writer_lock.py``): renewed by the owner's heartbeat, free once
# expired. No foreign key: a lease may be taken before the session exists (its creation) and outlive its deletion.
session_leases = Table(
    "session_leases",
    metadata,
    Column("session_id", String(_ID), primary_key=True),
    Column("owner", String(128), nullable=False, index=True),
    Column("expires_at", _TS, nullable=False),
)

# User messages received by a replica while another replica's turn holds the session (``inbox_store.py``): kept here
# until the replica that next holds the session's lease runs them, in ``id`` order, each row deleted in the
# transaction that appends its user message (exactly once). ``client_message_id`` is unique per session, as in
# ``client_messages`` (the receiving replica names a message sent without one).
session_inbox = Table(
    "session_inbox",
    metadata,
    Column("id", _ROWID, primary_key=True, autoincrement=True),
    Column("session_id", String(_ID), ForeignKey("sessions.id"), nullable=False),
    Column("subject", String(1024), nullable=True),
    Column("client_message_id", String(128), nullable=False),
    Column("frame", JSON, nullable=False),
    Column("received_at", _TS, nullable=False),
    UniqueConstraint("session_id", "client_message_id", name="uq_session_inbox_message"),
)
