"""Admission of a WebSocket: the Origin allow-list, the credentials, and the session, checked before anything is
relayed.

Starlette's CORS middleware does nothing for WebSockets, so the Origin check lives here. A browser always sends
``Origin``; the IDE (a desktop app) and terminal clients send none, which is allowed.

The IDE sends no credentials on its socket at all. Where users have identities (modes ``token``, ``jwt``,
``local``) such a socket may only attach to an existing session that has an owner (one created by an
authenticated REST call) and then acts as that owner: the session id, unguessable when the server made it, is the
capability. It cannot create sessions. ``GATEWAY__WS_ANONYMOUS=true`` restores the older rule (anonymous, no owner
checks); mode ``none`` is always anonymous without credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

from gateway.auth import Authenticator, AuthFailed, AuthUnavailable, Principal, bearer_token, subprotocol_token
from gateway.metrics import GatewayMetrics
from gateway.runtime_client import RuntimeClient, RuntimeRefused, RuntimeUnavailable
from gateway.settings import Settings
from gateway.ws.closes import CLOSE_POLICY, CLOSE_TRY_AGAIN

QUERY_TOKEN = "access_token"  # noqa: S105 -- the parameter name, not a secret
NO_SESSION = "no such session"
CANNOT_CREATE = (
    "a socket without credentials cannot create a session: create it with POST /api/v1/sessions, then connect to it"
)


@dataclass(frozen=True, slots=True)
class Admission:
    """Who may use the socket, the subprotocol to accept (``bearer`` when the token came that way), and the tool
    calls of the session that still wait for the client."""

    principal: Principal
    subprotocol: str | None
    outstanding_calls: list[dict[str, Any]] = field(default_factory=list)


class Refused(Exception):
    """The socket is accepted only to be closed with ``code`` (1008 unless said otherwise) and this reason."""

    def __init__(self, reason: str, code: int = CLOSE_POLICY) -> None:
        super().__init__(reason)
        self.code = code


def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    if origin is None:
        return True
    return "*" in allowed or origin.rstrip("/") in {a.rstrip("/") for a in allowed}


async def admit(
    websocket: WebSocket,
    settings: Settings,
    authenticator: Authenticator,
    runtime: RuntimeClient,
    metrics: GatewayMetrics,
    session_id: str | None,
) -> Admission:
    """Check Origin, credentials and the session (``None``: a new one); raise ``Refused`` otherwise."""
    if not origin_allowed(websocket.headers.get("origin"), settings.ws_allowed_origins):
        raise Refused("origin not allowed")
    credential, subprotocol = presented_credential(websocket, settings)
    if credential is not None:
        try:
            principal = await authenticator.authenticate(credential)
        except AuthFailed as exc:
            raise Refused(str(exc)) from None
        except AuthUnavailable:
            raise Refused("credentials cannot be checked right now; try again", CLOSE_TRY_AGAIN) from None
    elif settings.auth_mode == "none" or settings.ws_anonymous:
        principal = Principal(None)
    else:
        return await _attach_without_credentials(runtime, metrics, session_id)
    if session_id is None:
        return Admission(principal, subprotocol)
    try:
        probe = await runtime.probe_session(session_id, principal.subject)
    except RuntimeRefused as exc:
        # Without a subject (development, anonymous sockets) a user_message creates the session on the first frame;
        # with one, ids are made by the server, so an unknown id is refused now.
        if exc.status == 404 and principal.subject is not None:
            raise Refused(NO_SESSION) from None
        return Admission(principal, subprotocol)
    except RuntimeUnavailable:
        metrics.error("runtime_unavailable")  # left for the first frame, which gets the error
        return Admission(principal, subprotocol)
    return Admission(principal, subprotocol, probe.outstanding_calls)


def presented_credential(websocket: WebSocket, settings: Settings) -> tuple[str | None, str | None]:
    """The token presented (header, sub-protocol, or query when enabled) and the sub-protocol to accept; every
    WebSocket protocol of the gateway finds it here (the IDE socket and ACP)."""
    credential = bearer_token(websocket.headers.get("authorization"))
    if credential is not None:
        return credential, None
    credential, subprotocol = subprotocol_token(list(websocket.scope.get("subprotocols") or ()))
    if credential is None and settings.ws_query_token:
        credential = websocket.query_params.get(QUERY_TOKEN) or None
    return credential, subprotocol


async def _attach_without_credentials(
    runtime: RuntimeClient, metrics: GatewayMetrics, session_id: str | None
) -> Admission:
    """The IDE's socket: only onto an existing, owned session, as its owner."""
    if session_id is None:
        raise Refused(CANNOT_CREATE)
    try:
        probe = await runtime.probe_session(session_id, None)
    except RuntimeRefused as exc:
        raise Refused(NO_SESSION if exc.status == 404 else "session check failed") from None
    except RuntimeUnavailable:
        metrics.error("runtime_unavailable")
        raise Refused("the agent runtime is unavailable; try again", CLOSE_TRY_AGAIN) from None
    if probe.owner is None:
        raise Refused(NO_SESSION)  # an unowned session has no owner to act as
    return Admission(Principal(probe.owner), None, probe.outstanding_calls)
