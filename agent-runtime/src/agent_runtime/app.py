"""The composition root: engine, unit of work, locks, buses, HTTP client and background tasks are built in the
lifespan and put on ``app.state``; nothing is built at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_runtime import __version__
from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.api import stream
from agent_runtime.api.agents import router as agents_router
from agent_runtime.api.dependencies import SessionIdInPath
from agent_runtime.api.errors import install_domain_errors
from agent_runtime.api.events import router as events_router
from agent_runtime.api.sessions import router as sessions_router
from agent_runtime.application.command_bus import Clock, CommandBus
from agent_runtime.application.event_bus import EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.maintenance import expire_idle_sessions, periodically
from agent_runtime.application.ports import LLMClient
from agent_runtime.application.queries import events_after
from agent_runtime.application.session_stream import SessionStream
from agent_runtime.assembly import build_run_engine
from agent_runtime.domain.events import SessionDeleted
from agent_runtime.infrastructure.database import create_engine, is_postgres
from agent_runtime.infrastructure.llm_proxy_client import LLMProxyClient, LLMProxyModels
from agent_runtime.infrastructure.loop_sqlite import FileOwner
from agent_runtime.infrastructure.metrics import EventMetrics, ReplicaMetrics
from agent_runtime.infrastructure.migrator import upgrade
from agent_runtime.infrastructure.pg_fanout import PgRelay, asyncpg_dsn
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory
from agent_runtime.infrastructure.writer_lock import SessionWriterLock
from agent_runtime.runs.engine import RunEngine
from agent_runtime.runs.expiry import expire_stale_approvals
from agent_runtime.runs.services import ContextWindows
from agent_runtime.settings import Settings
from service_kit.asgi import HotPathApp
from service_kit.errors import install_error_handlers
from service_kit.middleware import (
    BodyLimitMiddleware,
    InternalAuthMiddleware,
    NulTargetMiddleware,
    RequestContextMiddleware,
    public_paths,
)
from service_kit.service import new_registry, service_routes
from service_kit.stream_client import StreamClient


def utc_now() -> datetime:
    return datetime.now(UTC)


def _wire(
    app: FastAPI, settings: Settings, engine: AsyncEngine, llm: LLMClient, windows: ContextWindows, clock: Clock
) -> None:
    """Build the buses, subscribers and the run engine on one database engine and put them on ``app.state``."""
    uows = SqlAlchemyUnitOfWorkFactory(engine)
    events = EventBus()
    fanout = SessionFanout()
    metrics = EventMetrics(app.state.registry)
    events.use(metrics.timing)
    events.subscribe(fanout.on_event, category="stream", priority=100, name="live_fanout")
    events.subscribe(metrics.on_event, priority=50, name="prometheus")
    # The audit log is no subscriber: its rows are written in the transaction that raised the events (audit.py).
    # One instance: REST commands and runs serialize on the same session lock (a lease across replicas).
    lock = SessionWriterLock(engine, lease_seconds=settings.lease_seconds, replica=settings.replica_id)
    catalogue = build_catalogue(settings.multi_agent_mode, settings.agents_file)  # the one source of agent ids
    stream = SessionStream(uows, fanout)
    commands = CommandBus(uows, lock, events, HANDLERS, clock, catalogue, stream)
    app.state.engine, app.state.uows, app.state.events, app.state.fanout = engine, uows, events, fanout
    app.state.lock = lock
    app.state.commands, app.state.llm, app.state.catalogue = commands, llm, catalogue
    app.state.runs = build_run_engine(
        settings,
        catalogue=catalogue,
        commands=commands,
        stream=stream,
        uows=uows,
        lock=lock,
        llm=llm,
        windows=windows,
    )
    events.subscribe(app.state.runs.forget_session, event_type=SessionDeleted, name="known_sessions")
    app.state.relay = _relay(settings, engine, uows, fanout, app.state.runs, lock)


def _relay(
    settings: Settings,
    engine: AsyncEngine,
    uows: SqlAlchemyUnitOfWorkFactory,
    fanout: SessionFanout,
    runs: RunEngine,
    lock: SessionWriterLock,
) -> PgRelay | None:
    """On PostgreSQL the live fan-out and ``cancel`` reach every replica (ADR 8), and a user message waiting for
    another replica's turn is queued in the session's durable inbox; SQLite is one process."""
    if not is_postgres(engine):
        return None

    async def logged_chunk(session_id: str, seq: int) -> bytes | None:
        events = await events_after(uows, session_id, seq - 1, 1)
        return events[0].data if events and events[0].seq == seq else None

    relay = PgRelay(asyncpg_dsn(settings.database_url()), fanout, logged_chunk, leases=lock)
    fanout.use_relay(relay)
    relay.on_cancel = runs.cancel_here
    runs.cancel_elsewhere = relay.cancel
    runs.use_inbox()
    return relay


def _start_housekeeping(app: FastAPI, settings: Settings, clock: Clock) -> list[asyncio.Task[None]]:
    """The background passes: idle sessions expire (``SESSION_TTL_HOURS``), undecided approvals expire
    (``APPROVAL_TTL_SECONDS``), a dead replica's turns are taken over (PostgreSQL,
    ``TAKEOVER_INTERVAL``)."""
    commands, uows, runs = app.state.commands, app.state.uows, app.state.runs
    tasks = []
    if settings.session_ttl_hours > 0:
        idle = timedelta(hours=settings.session_ttl_hours)

        async def sessions() -> int:
            return await expire_idle_sessions(commands, uows, ttl=idle, now=clock())

        job = periodically(sessions, interval=settings.cleanup_interval, what="expired idle sessions")
        tasks.append(asyncio.create_task(job))
    if settings.approval_ttl_seconds is not None:
        undecided = timedelta(seconds=settings.approval_ttl_seconds)

        async def approvals() -> int:
            return await expire_stale_approvals(runs, uows, ttl=undecided, now=clock())

        job = periodically(approvals, interval=settings.approval_sweep_interval, what="expired approvals")
        tasks.append(asyncio.create_task(job))
    relay = app.state.relay
    if relay is not None:  # several replicas: a dead one's turns are found by the others
        metrics = ReplicaMetrics(app.state.registry, relay_up=lambda: relay.up, leases=app.state.lock.leased)
        app.state.lock.on_lost = metrics.leases_lost.inc
        runs.on_takeover = metrics.takeovers.inc  # a run driven on, not a pass's guess (the run may end meanwhile)
        job = periodically(runs.recover, interval=settings.takeover_interval, what="turns of a dead replica taken over")
        tasks.append(asyncio.create_task(job))
    return tasks


def _lifespan(
    settings: Settings, llm: LLMClient | None, windows: ContextWindows | None, clock: Clock
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start-up and shutdown: database (+ migrations), HTTP session, wiring, recovery, background passes."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owner = FileOwner(settings.database_url())
        owner.acquire()  # one process per SQLite file (loop_sqlite.FileOwner)
        engine = create_engine(
            settings.database_url(),
            echo=settings.db_echo,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        if settings.migrate_on_start:
            await upgrade(engine)
        http = StreamClient(settings.llm_proxy_url, connect_timeout=settings.llm_connect_timeout)
        key = settings.internal_api_key.get_secret_value()
        client = llm or LLMProxyClient(http, key, stream_timeout=settings.llm_stream_timeout)
        models = windows or LLMProxyModels(http, key)
        _wire(app, settings, engine, client, models, clock)
        relay = app.state.relay
        if relay is not None:
            await relay.start()
        await app.state.lock.start()
        await app.state.runs.recover()
        housekeeping = _start_housekeeping(app, settings, clock)
        try:
            yield
        finally:
            for task in housekeeping:
                task.cancel()
            await asyncio.gather(*housekeeping, return_exceptions=True)
            await app.state.runs.aclose()
            await app.state.lock.aclose()  # the leases go back: another replica takes the turns over at once
            if relay is not None:
                await relay.aclose()
            await http.aclose()
            app.state.uows.close()
            await engine.dispose()
            owner.release()

    return lifespan


def create_app(
    settings: Settings,
    *,
    llm: LLMClient | None = None,
    windows: ContextWindows | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """Build the app. ``llm`` replaces the llm-proxy client (tests pass a fake speaking OpenAI chunks) and
    ``windows`` its model list (context windows)."""
    app = HotPathApp(
        title="CodeLab agent-runtime", version=__version__, lifespan=_lifespan(settings, llm, windows, clock)
    )
    app.add_hot_route(
        stream.PATH, stream.message_stream, openapi=stream.openapi_operation(), schemas=stream.OPENAPI_SCHEMAS
    )
    registry = new_registry()
    app.state.settings = settings
    app.state.registry = registry
    app.router.routes.extend(service_routes("agent-runtime", __version__, registry))
    for router in (sessions_router, agents_router, events_router):
        app.include_router(router, dependencies=[SessionIdInPath])
    install_error_handlers(app)
    install_domain_errors(app)
    app.add_middleware(NulTargetMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_request_bytes)
    app.add_middleware(
        InternalAuthMiddleware,
        key=settings.internal_api_key.get_secret_value(),
        is_protected=public_paths("/health"),
    )
    app.add_middleware(RequestContextMiddleware)
    return app
