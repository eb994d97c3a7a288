"""Engines: URL normalisation to the async drivers, SQLite pragmas, and write transactions that take the lock
up front."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_FILE = "agent-runtime.sqlite3"


def normalise_db_url(url: str | None, data_dir: Path) -> str:
    """``sqlite:///…`` → ``sqlite+aiosqlite``, ``postgresql://`` / ``postgres://`` → ``postgresql+asyncpg``;
    no URL → a SQLite file in ``data_dir``."""
    if not url:
        return f"sqlite+aiosqlite:///{(data_dir / SQLITE_FILE).resolve()}"
    for prefix, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql+psycopg2://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
    ):
        if url.startswith(prefix):
            return driver + url[len(prefix) :]
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return url
    raise ValueError("the database URL must start with sqlite:// or postgresql://")


def json_dumps(value: Any) -> str:
    """The JSON columns' serializer: orjson (the standard library's encoder was 5% of a turn's CPU), the standard
    library for what orjson refuses (integers over 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


JSON_OPTIONS: dict[str, Any] = {"json_serializer": json_dumps, "json_deserializer": orjson.loads}


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10, max_overflow: int = 40) -> AsyncEngine:
    """An async engine. SQLite gets WAL, a busy timeout, ``synchronous=NORMAL`` (survives kill -9, see
    reliability.md) and ``BEGIN IMMEDIATE`` for write transactions, so two writers queue on the lock instead of
    failing when a read transaction tries to upgrade."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # The pool bounds connections, not turns: a turn holds its session by a lease (writer_lock.py).
        return create_async_engine(
            url, echo=echo, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow, **JSON_OPTIONS
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, **JSON_OPTIONS)
    install_sqlite_hooks(engine.sync_engine)
    return engine


def install_sqlite_hooks(engine: Engine) -> None:
    """WAL, busy timeout, ``synchronous=NORMAL``, foreign keys on every connection; ``BEGIN IMMEDIATE`` for a
    connection with the ``sqlite_write`` execution option."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"
