"""The methods an ACP agent serves, each a function of the connection and the request.

Sessions are the runtime's sessions (``session/new`` creates one over REST; ``session/load`` and ``session/resume``
attach to any of the subject's sessions, from any connection or process); agents are session modes; a prompt is a
``Turn``. ``_codelab/prompt_resume`` is our extension that ``codelab-acp`` sends after a reconnect to continue a
prompt whose connection dropped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from acp import schema

from gateway import __version__
from gateway.acp import jsonrpc
from gateway.acp.client_tools import Capabilities
from gateway.acp.params import absolute_cwd, validated
from gateway.acp.prompt import prompt_text
from gateway.acp.replay import replay_session
from gateway.acp.session import AcpSession
from gateway.acp.turn import Turn
from gateway.auth import AuthFailed

if TYPE_CHECKING:
    from gateway.acp.connection import AcpConnection

PROTOCOL_VERSION = 1
AUTH_METHOD = {
    "id": "bearer",
    "name": "CodeLab access token",
    "description": "authenticate with params._meta.token set to the token (or send Authorization: Bearer on connect)",
}
EXTENSIONS = "codelab.dev"  # our key in _meta: {"seq": true} asks for each update's seq; we offer promptResume
RESUME_METHOD = "_codelab/prompt_resume"
MESSAGE_ID = "codelab.dev/messageId"  # in a prompt's _meta: the runtime's client_message_id (a retry runs once)
MESSAGE_ID_LIMIT = 200
LIST_PAGE = 50

Handler = Callable[["AcpConnection", jsonrpc.Request], Awaitable[Any]]


async def initialize(conn: AcpConnection, request: jsonrpc.Request) -> dict[str, Any]:
    if conn.initialized:
        raise jsonrpc.RpcError(jsonrpc.INVALID_REQUEST, "already initialized", request.id)
    params = validated(schema.InitializeRequest, "initialize", request.params, request.id)
    capabilities = params.client_capabilities or schema.ClientCapabilities()
    conn.capabilities = Capabilities.from_client(capabilities)
    ours = (capabilities.field_meta or {}).get(EXTENSIONS)
    conn.with_seq = isinstance(ours, dict) and ours.get("seq") is True
    conn.initialized = True
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "agentCapabilities": {
            "loadSession": True,
            "promptCapabilities": {"image": False, "audio": False, "embeddedContext": True},
            "mcpCapabilities": {"http": False, "sse": False},
            "sessionCapabilities": {"list": {}, "resume": {}},
            "_meta": {EXTENSIONS: {"promptResume": True, "seq": True}},
        },
        "agentInfo": {"name": "codelab", "title": "CodeLab", "version": __version__},
        "authMethods": [] if conn.principal is not None else [AUTH_METHOD],
    }


async def authenticate(conn: AcpConnection, request: jsonrpc.Request) -> dict[str, Any]:
    params = validated(schema.AuthenticateRequest, "authenticate", request.params, request.id)
    if params.method_id != AUTH_METHOD["id"]:
        message = f"invalid params for authenticate: methodId: unknown method {params.method_id[:40]!r}; use 'bearer'"
        raise jsonrpc.RpcError(jsonrpc.INVALID_PARAMS, message, request.id)
    token = (params.field_meta or {}).get("token")
    try:
        conn.principal = await conn.authenticator.authenticate(token if isinstance(token, str) else None)
    except AuthFailed as exc:
        raise jsonrpc.RpcError(jsonrpc.AUTH_REQUIRED, f"authentication failed: {exc}", request.id) from None
    return {}


async def new_session(conn: AcpConnection, request: jsonrpc.Request) -> dict[str, Any]:
    params = validated(schema.NewSessionRequest, "session/new", request.params, request.id)
    workspace = absolute_cwd(params.cwd, "session/new", request.id)
    view = await conn.link().rest("POST", "/sessions", {})
    session = AcpSession(str(view["id"]), workspace, conn.link())
    conn.sessions[session.id] = session
    return {"sessionId": session.id, "modes": await _modes(conn, view)}


async def load_session(conn: AcpConnection, request: jsonrpc.Request) -> dict[str, Any]:
    params = validated(schema.LoadSessionRequest, "session/load", request.params, request.id)
    session, view = await _attach(conn, request, params.session_id, params.cwd)
    await replay_session(session)
    return {"modes": await _modes(conn, view)}


async def resume_session(conn: AcpConnection, request: jsonrpc.Request) -> dict[str, Any]:
    params = validated(schema.ResumeSessionRequest, "session/resume", request.params, request.id)
    _session, view = await _attach(conn, request, params.session_id, params.cwd)
    return {"modes": await _modes(conn, view)}


async def _attach(
    conn: AcpConnection, request: jsonrpc.Request, session_id: str, cwd: str
) -> tuple[AcpSession, dict[str, Any]]:
    workspace = absolute_cwd(cwd, request.method, request.id)
    running = conn.sessions.get(session_id)
    if running is not None and running.turn is not None:
        raise jsonrpc.RpcError(jsonrpc.INVALID_REQUEST, "a prompt is running in this session", request.id)
    view = await conn.link().rest("GET", f"/sessions/{quote(session_id, safe='')}", None)
    session = AcpSession(str(view["id"]), workspace, conn.link())
    conn.sessions[session.id] = session
    return session, view


async def list_sessions(conn: AcpConnection, request: jsonrpc.Request) -> dict[str, Any]:
    params = validated(schema.ListSessionsRequest, "session/list", request.params, request.id)
    offset = int(params.cursor) if params.cursor and params.cursor.isdigit() else 0
    page = await conn.link().rest("GET", f"/sessions?limit={LIST_PAGE}&offset={offset}", None)
    cwd = params.cwd or "/"
    sessions = [
        {"sessionId": s["id"], "cwd": cwd, "title": s.get("title"), "updatedAt": s.get("last_activity")}
        for s in page.get("sessions") or []
        if isinstance(s, dict) and "id" in s
    ]
    answer: dict[str, Any] = {"sessions": sessions}
    if offset + LIST_PAGE < int(page.get("total") or 0):
        answer["nextCursor"] = str(offset + LIST_PAGE)
    return answer


async def prompt(conn: AcpConnection, request: jsonrpc.Request) -> dict[str, Any]:
    params = validated(schema.PromptRequest, "session/prompt", request.params, request.id)
    session = conn.session(params.session_id, request.id)
    message = _user_message(params.prompt, params.field_meta, session, request)
    return {"stopReason": await _turn(session, request, lambda turn: turn.run(message))}


async def prompt_resume(conn: AcpConnection, request: jsonrpc.Request) -> dict[str, Any]:
    """A prompt whose connection dropped: ``{sessionId, lastSeq, streamed?, messageId?, prompt?}``. With the
    message id and the prompt, the message is posted again (the runtime runs it once); else the session's log is
    followed after ``lastSeq``."""
    session_id, last_seq = request.params.get("sessionId"), request.params.get("lastSeq")
    if not isinstance(session_id, str) or not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq < 0:
        message = f"invalid params for {RESUME_METHOD}: needs sessionId (string) and lastSeq (integer ≥ 0)"
        raise jsonrpc.RpcError(jsonrpc.INVALID_PARAMS, message, request.id)
    session = conn.session(session_id, request.id)
    session.last_seq = max(session.last_seq, last_seq)
    streamed = request.params.get("streamed")
    session.translator.streamed(streamed if isinstance(streamed, str) else "")
    message_id, blocks = request.params.get("messageId"), request.params.get("prompt")
    if isinstance(message_id, str) and isinstance(blocks, list):
        again = validated(schema.PromptRequest, RESUME_METHOD, {"sessionId": session_id, "prompt": blocks}, request.id)
        frame = _user_message(again.prompt, {MESSAGE_ID: message_id}, session, request)
        return {"stopReason": await _turn(session, request, lambda turn: turn.run(frame, again=True))}
    return {"stopReason": await _turn(session, request, lambda turn: turn.resume(last_seq))}


def _user_message(
    blocks: list[Any], meta: dict[str, Any] | None, session: AcpSession, request: jsonrpc.Request
) -> dict[str, Any]:
    """The ``user_message`` frame of a prompt; ``codelab.dev/messageId`` becomes its idempotency key."""
    frame: dict[str, Any] = {"type": "user_message", "content": prompt_text(blocks, session.workspace, request.id)}
    message_id = (meta or {}).get(MESSAGE_ID)
    if isinstance(message_id, str) and 0 < len(message_id) <= MESSAGE_ID_LIMIT:
        frame["client_message_id"] = message_id
    return frame


async def _turn(session: AcpSession, request: jsonrpc.Request, drive: Callable[[Turn], Awaitable[str]]) -> str:
    if session.turn is not None:
        message = "a prompt is already running in this session: wait for it or session/cancel it"
        raise jsonrpc.RpcError(jsonrpc.INVALID_REQUEST, message, request.id)
    turn = session.turn = Turn(session)
    try:
        return await drive(turn)
    finally:
        session.turn = None


async def set_mode(conn: AcpConnection, request: jsonrpc.Request) -> dict[str, Any]:
    params = validated(schema.SetSessionModeRequest, "session/set_mode", request.params, request.id)
    session = conn.session(params.session_id, request.id)
    modes = [mode["id"] for mode in await _agents(conn)]
    if params.mode_id not in modes:
        known = ", ".join(modes)
        message = f"invalid params for session/set_mode: modeId: unknown mode {params.mode_id[:40]!r}; modes: {known}"
        raise jsonrpc.RpcError(jsonrpc.INVALID_PARAMS, message, request.id)
    stream = await session.open({"type": "switch_agent", "agent_type": params.mode_id})
    try:
        async for chunk in stream.chunks():
            await session.relay(chunk.data, chunk.seq, chunk.received_at)
    finally:
        stream.close()
    return {}


def cancel(conn: AcpConnection, params: dict[str, Any]) -> None:
    session_id = params.get("sessionId")
    session = conn.sessions.get(session_id) if isinstance(session_id, str) else None
    turn = session.turn if session is not None else None
    if turn is not None and turn.request_cancel():
        conn.spawn(turn.post_cancel())


async def _modes(conn: AcpConnection, view: dict[str, Any]) -> dict[str, Any]:
    """The session's modes: the runtime's agents (never a list of our own), the session's current agent."""
    agents = await _agents(conn)
    current = view.get("current_agent")
    ids = [agent["id"] for agent in agents]
    return {"currentModeId": current if current in ids else (ids[0] if ids else ""), "availableModes": agents}


async def _agents(conn: AcpConnection) -> list[dict[str, Any]]:
    if conn.agents is None:
        answer = await conn.link().rest("GET", "/agents", None)
        conn.agents = [
            {key: str(agent[key]) for key in ("id", "name", "description") if agent.get(key)}
            for agent in answer.get("agents") or []
            if isinstance(agent, dict) and agent.get("id") and agent.get("name")
        ]
    return conn.agents


METHODS: dict[str, Handler] = {
    "initialize": initialize,
    "authenticate": authenticate,
    "session/new": new_session,
    "session/load": load_session,
    "session/resume": resume_session,
    "session/list": list_sessions,
    "session/prompt": prompt,
    "session/set_mode": set_mode,
    RESUME_METHOD: prompt_resume,
}
NOTIFICATIONS: dict[str, Callable[[AcpConnection, dict[str, Any]], None]] = {"session/cancel": cancel}
OPEN_METHODS = frozenset({"initialize", "authenticate"})
