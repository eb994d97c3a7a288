"""``Annotated`` aliases for what routes take from the composition root (``app.state``) and the request.

Every dependency is ``async def`` although none awaits: FastAPI runs a plain ``def`` dependency in its thread pool,
a thread hand-off per dependency per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from agent_runtime.agents.catalogue import Catalogue
from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.event_bus import EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.domain.errors import NotFound
from agent_runtime.domain.session import SESSION_ID_LENGTH
from agent_runtime.settings import Settings
from service_kit.subject import MAX_ENCODED_SUBJECT, InvalidSubject, decode_subject

# A BIGINT: a larger number cannot be bound to a query on either database, so such a parameter is a 400.
MAX_SQL_INTEGER = 2**63 - 1


async def _commands(request: Request) -> CommandBus:
    return request.app.state.commands  # type: ignore[no-any-return]


async def _catalogue(request: Request) -> Catalogue:
    return request.app.state.catalogue  # type: ignore[no-any-return]


async def _uows(request: Request) -> UnitOfWorkFactory:
    return request.app.state.uows  # type: ignore[no-any-return]


async def _fanout(request: Request) -> SessionFanout:
    return request.app.state.fanout  # type: ignore[no-any-return]


async def _events(request: Request) -> EventBus:
    return request.app.state.events  # type: ignore[no-any-return]


async def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def _request_id(request: Request) -> str | None:
    """The request id RequestContextMiddleware bound; it becomes the correlation id of the events raised."""
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value else None


async def _subject(
    x_subject: Annotated[
        str | None, Header(max_length=MAX_ENCODED_SUBJECT, description="The caller's subject, percent-encoded UTF-8")
    ] = None,
) -> str | None:
    """The IDE user's subject, set by the gateway; absent = no owner checks (contracts.md). A blank one is 400,
    never "no subject"."""
    try:
        return decode_subject(x_subject)
    except InvalidSubject as exc:
        raise HTTPException(400, f"X-Subject: {exc}") from None


async def _session_id_in_path(request: Request) -> None:
    """A path's session id longer than any stored id names no session: 404 before any work (a lease or a lookup
    with it fails on PostgreSQL, whose id columns are varchar(64))."""
    session_id = request.path_params.get("session_id")
    if isinstance(session_id, str) and len(session_id) > SESSION_ID_LENGTH:
        raise NotFound("session not found")


SessionIdInPath = Depends(_session_id_in_path)
Commands = Annotated[CommandBus, Depends(_commands)]
AgentCatalogue = Annotated[Catalogue, Depends(_catalogue)]
Uows = Annotated[UnitOfWorkFactory, Depends(_uows)]
Fanout = Annotated[SessionFanout, Depends(_fanout)]
Events = Annotated[EventBus, Depends(_events)]
AppSettings = Annotated[Settings, Depends(_settings)]
Subject = Annotated[str | None, Depends(_subject)]
RequestId = Annotated[str | None, Depends(_request_id)]
