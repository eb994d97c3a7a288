"""Admission of a WebSocket: the Origin allow-list and the credentials, checked before anything is relayed.

Starlette's CORS middleware does nothing for WebSockets, so the Origin check lives here. A browser always sends
``Origin``; the IDE (a desktop app) and terminal clients send none, which is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket

from gateway.auth import Authenticator, AuthFailed, Principal, bearer_token, subprotocol_token
from gateway.metrics import GatewayMetrics
from gateway.runtime_client import RuntimeClient, RuntimeRefused, RuntimeUnavailable
from gateway.settings import Settings

QUERY_TOKEN = "access_token"  # noqa: S105 -- the parameter name, not a secret


@dataclass(frozen=True, slots=True)
class Admission:
    """Who may use the socket and the subprotocol to accept (``bearer`` when the token came that way)."""

    principal: Principal
    subprotocol: str | None


class Refused(Exception):
    """The socket is accepted only to be closed with 1008 and this reason (safe to show)."""


def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    if origin is None:
        return True
    return "*" in allowed or origin.rstrip("/") in {a.rstrip("/") for a in allowed}


async def admit(websocket: WebSocket, settings: Settings, authenticator: Authenticator) -> Admission:
    """Check Origin, then find and verify credentials; raise ``Refused`` otherwise."""
    if not origin_allowed(websocket.headers.get("origin"), settings.ws_allowed_origins):
        raise Refused("origin not allowed")
    credential = bearer_token(websocket.headers.get("authorization"))
    subprotocol = None
    if credential is None:
        credential, subprotocol = subprotocol_token(list(websocket.scope.get("subprotocols") or ()))
    if credential is None and settings.ws_query_token:
        credential = websocket.query_params.get(QUERY_TOKEN) or None
    if credential is None and settings.ws_anonymous:
        return Admission(Principal(None), None)
    try:
        principal = await authenticator.authenticate(credential)
    except AuthFailed as exc:
        raise Refused(str(exc)) from None
    return Admission(principal, subprotocol)


async def outstanding_calls(
    runtime: RuntimeClient, metrics: GatewayMetrics, session_id: str, subject: str | None
) -> list[dict[str, Any]]:
    """Before accepting a socket on a known session: may this subject use it (403 → ``Refused``), and which tool
    calls still wait for the IDE. The runtime being down or the session unknown is left for the first frame."""
    try:
        return await runtime.outstanding_tool_calls(session_id, subject)
    except RuntimeRefused as exc:
        if exc.status == 403:
            raise Refused("session belongs to another subject") from None
        return []
    except RuntimeUnavailable:
        metrics.error("runtime_unavailable")
        return []
