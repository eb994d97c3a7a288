"""SQLite on the event loop's own thread.

Through aiosqlite every statement costs four thread hand-offs (cursor, execute, fetch, close), each a queue put, a
condition wake-up and a future resolved across threads: measured 1.33 ms of CPU for a small write transaction
(select + update + insert) against 0.54 ms for the same statements on the plain sqlite3 driver. On a local file in
WAL mode a statement takes microseconds, so the units of work run them directly on the loop thread instead.

What makes that safe: write transactions of this process queue on one asyncio lock before ``BEGIN IMMEDIATE``
(SQLite has a single writer anyway), so a writer never waits for SQLite's file lock on another connection of this
process while holding the loop; readers never block in WAL mode. Only another *process* writing the same file can
make ``BEGIN IMMEDIATE`` wait, up to the busy timeout: a second runtime and ``migrate`` are refused at their start
(:class:`FileOwner`). The pool never blocks (unbounded overflow): a checkout that waited for a connection would wait
on the loop it blocks.

Once SQLite runs on the loop, SQLAlchemy's own work per statement is most of the cost: 40 µs for a small insert and
66 µs for a one-row select against 9 and 4 µs on the bare driver (measured here). The statements every turn runs
are built once at import and marked with :func:`prepared`; their SQL, bind and result processors are compiled once
per parameter shape (SQLAlchemy's own compiler, so the SQL and the value conversions are the ones it would use)
and run on the driver's connection, inside the transaction SQLAlchemy began. Everything else, and everything when
``echo`` is on, takes SQLAlchemy's path.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar, cast

try:
    import fcntl
except ImportError:  # Windows has no fcntl: no single-owner check there
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Connection, Dialect, Engine, create_engine, make_url, pool
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.base import Executable

from agent_runtime.infrastructure.database import JSON_OPTIONS, install_sqlite_hooks


class Rows(Protocol):
    """What the repositories read of a statement's result (SQLAlchemy's ``Result`` has it, and so has ``_Rows``)."""

    def all(self) -> Sequence[Any]: ...

    def first(self) -> Any: ...

    def one(self) -> Any: ...

    def scalar_one(self) -> Any: ...


class SqlConnection(Protocol):
    """What the repositories need of a connection: awaitable ``execute`` (an ``AsyncConnection`` or a
    :class:`LoopConnection`)."""

    async def execute(self, statement: Executable, parameters: Any = None, /) -> Rows: ...


S = TypeVar("S", bound=Executable)
_PREPARED: dict[int, Executable] = {}  # id → the statement (kept alive, so the id is never reused)


def prepared(statement: S) -> S:
    """Mark a statement built once at import for the fast path on SQLite (module docstring)."""
    _PREPARED[id(statement)] = statement
    return statement


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # the bind names in the order of the SQL's ``?``
    binds: tuple[Callable[[Any], Any] | None, ...]
    row: Callable[..., Any] | None  # a named tuple of the result columns, None for a statement without rows
    results: tuple[Callable[[Any], Any] | None, ...]

    def values(self, parameters: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            parameters[name] if bind is None else bind(parameters[name])
            for name, bind in zip(self.names, self.binds, strict=True)
        )


_PLANS: dict[tuple[int, tuple[str, ...]], _Plan | None] = {}


def _plan(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> _Plan | None:
    """SQLAlchemy's compilation of ``statement`` for these parameter keys; None when it needs more than SQL and
    converted values (Python-side defaults computed at execution)."""
    compiled: Any = cast(Any, statement).compile(dialect=dialect, column_keys=list(keys))
    if compiled.insert_prefetch or compiled.update_prefetch or not compiled.positional:
        return None
    names = tuple(compiled.positiontup)
    if not set(names) <= set(keys):
        return None
    processors = compiled._bind_processors
    binds = tuple(processors.get(name) for name in names)
    columns = compiled._result_columns
    if not columns:
        return _Plan(compiled.string, names, binds, None, ())
    fields = [column[0] for column in columns]
    row: Any = namedtuple("Row", fields, rename=True)  # type: ignore[misc]  # the columns are known at run time
    results = tuple(column[3]._cached_result_processor(dialect, None) for column in columns)
    return _Plan(compiled.string, names, binds, row._make, results)


class _Rows:
    """The rows of a prepared statement, already converted."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise LookupError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar_one(self) -> Any:
        return self.one()[0]


_NO_ROWS = _Rows([])


class LoopConnection:
    """A synchronous SQLAlchemy connection behind the awaitable ``execute`` of :class:`SqlConnection`."""

    __slots__ = ("_connection", "_driver")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        # the driver's connection, or None when every statement must go through SQLAlchemy (echo on)
        self._driver = None if connection.engine.echo else connection.connection.driver_connection

    async def execute(self, statement: Executable, parameters: Any = None, /) -> Rows:
        if self._driver is None or parameters is None or id(statement) not in _PREPARED:
            return self._connection.execute(statement, parameters)
        many = isinstance(parameters, list)
        keys = tuple(parameters[0] if many else parameters)
        key = (id(statement), keys)
        try:
            plan = _PLANS[key]
        except KeyError:
            plan = _PLANS[key] = _plan(statement, keys, self._connection.dialect)
        if plan is None:
            return self._connection.execute(statement, parameters)
        if many:
            self._driver.executemany(plan.sql, [plan.values(p) for p in parameters])
            return _NO_ROWS
        cursor = self._driver.execute(plan.sql, plan.values(parameters))
        if plan.row is None:
            return _NO_ROWS
        make, results = plan.row, plan.results
        return _Rows(
            [make([v if f is None else f(v) for v, f in zip(raw, results, strict=True)]) for raw in cursor.fetchall()]
        )


class DatabaseInUse(Exception):
    """Another process of this machine holds the SQLite file (a running runtime)."""


class FileOwner:
    """One process per SQLite file: an exclusive ``flock`` on ``<file>.owner``, held from start-up to shutdown.

    Statements run on the loop thread (module docstring), so a second writer *process* on the same file (a second
    replica, ``migrate`` against a live runtime) would stall this one's loop for up to the busy timeout; it is refused
    at its start instead. The kernel drops the lock when the holder dies, also by kill -9. A no-op for PostgreSQL,
    for ``:memory:`` and where ``fcntl`` is missing."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
        self._path = Path(f"{parsed.database}.owner") if sqlite_file else None
        self._handle: IO[bytes] | None = None

    def acquire(self) -> None:
        if self._path is None or fcntl is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("a+b")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            database = str(self._path)[: -len(".owner")]
            raise DatabaseInUse(
                f"the SQLite file {database} is in use by another agent-runtime process; run one runtime per SQLite "
                "file, and stop it before running migrate against the file"
            ) from None
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the lock
            self._handle = None


def loop_engine(engine: AsyncEngine) -> Engine | None:
    """A synchronous engine on the same SQLite file as ``engine`` (same pragmas, ``BEGIN IMMEDIATE`` for writes),
    or None when ``engine`` is not a SQLite file (PostgreSQL keeps asyncpg; ``:memory:`` is per connection)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    sync = create_engine(
        url.set(drivername="sqlite+pysqlite"),
        echo=engine.echo,
        poolclass=pool.QueuePool,
        pool_size=8,
        max_overflow=-1,  # never wait for a connection: the wait would block the loop
        connect_args={"timeout": 30, "check_same_thread": False},
        **JSON_OPTIONS,
    )
    install_sqlite_hooks(sync)
    return sync
