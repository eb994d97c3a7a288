"""One ACP session on one connection: the runtime session it is, its working directory, its dialect state, and
what it needs from the connection (the runtime, the client, the socket)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from gateway.acp.client_tools import Capabilities, ClientTools
from gateway.acp.peer import ClientPeer
from gateway.acp.updates import Translator, Update
from gateway.acp.workspace import Workspace
from gateway.runtime_client import ChunkStream, RuntimeClient, RuntimeRefused, RuntimeUnavailable
from gateway.ws.outbound import Outgoing

if TYPE_CHECKING:
    from gateway.acp.turn import Turn

SEQ_META = "codelab.dev/seq"


@dataclass(frozen=True, slots=True)
class Link:
    """What every session of a connection shares."""

    runtime: RuntimeClient
    subject: str | None
    peer: ClientPeer
    capabilities: Capabilities
    send: Callable[[Outgoing], Awaitable[None]]
    with_seq: bool  # the client asked for each update's seq (``codelab-acp`` does, to resume)

    async def rest(self, method: str, target: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A runtime REST call as this client's subject: the JSON object it answered, or ``RuntimeRefused``."""
        path, _, query = target.partition("?")
        payload = orjson.dumps(body) if body is not None else b""
        answer = await self.runtime.forward(method, path, query, payload, self.subject)
        try:
            data = orjson.loads(answer.body) if answer.body else {}
        except orjson.JSONDecodeError as exc:
            raise RuntimeUnavailable("agent runtime sent a malformed answer", 502) from exc
        if answer.status >= 400:
            error = data.get("error") if isinstance(data, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            raise RuntimeRefused(str(message or f"agent runtime answered HTTP {answer.status}"), answer.status)
        if not isinstance(data, dict):
            raise RuntimeUnavailable("agent runtime sent a malformed answer", 502)
        return data


EXCLUDES_SECRETS: dict[str, Any] = {"excludes_secrets": True}  # shared, never changed


class AcpSession:
    """``id`` is the runtime's session id; ``turn`` is the running ``session/prompt``, if any."""

    def __init__(self, session_id: str, workspace: Workspace, link: Link) -> None:
        self.id = session_id
        self.workspace = workspace
        self.link = link
        self.translator = Translator(workspace)
        self.tools = ClientTools(link.peer, session_id, workspace, link.capabilities)
        self.turn: Turn | None = None
        self.last_seq = 0

    def frame(self, message: dict[str, Any]) -> dict[str, Any]:
        """A frame for the runtime, with the tools this client can run (contracts.md: client tools)."""
        message["client_tools"] = self.link.capabilities.tools()
        message["client_tools_options"] = EXCLUDES_SECRETS  # listings and searches skip them (terminal_tools)
        return message

    async def open(self, message: dict[str, Any]) -> ChunkStream:
        return await self.link.runtime.open_message(self.id, self.frame(message), self.link.subject)

    async def notify(self, update: Update, seq: int | None = None, received_at: float | None = None) -> None:
        """Send one ``session/update``."""
        params: dict[str, Any] = {"sessionId": self.id, "update": update}
        if seq is not None and self.link.with_seq:
            params["_meta"] = {SEQ_META: seq}
        message = {"jsonrpc": "2.0", "method": "session/update", "params": params}
        await self.link.send(Outgoing(message, update["sessionUpdate"], received_at))

    async def relay(self, data: dict[str, Any], seq: int | None, received_at: float | None = None) -> bool:
        """Translate one runtime chunk and send its updates; False when its seq was already relayed. A ``status``
        is news, not history: it never moves the cursor (see ``ws.connection.Connection.emit``).

        A token delta (one per token: the hot path) goes out as one dict literal, without the translator's list."""
        kind = data.get("type")
        if seq is not None and kind != "status":
            if seq <= self.last_seq:
                return False
            self.last_seq = seq
        if kind == "assistant_message" and data.get("is_final") is False:
            token = self.translator.delta(data.get("token"))
            if token is not None:
                params: dict[str, Any] = {
                    "sessionId": self.id,
                    "update": {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": token}},
                }
                if seq is not None and self.link.with_seq:
                    params["_meta"] = {SEQ_META: seq}
                message = {"jsonrpc": "2.0", "method": "session/update", "params": params}
                await self.link.send(Outgoing(message, "agent_message_chunk", received_at))
            return True
        for update in self.translator.updates(data):
            await self.notify(update, seq, received_at)
        return True
