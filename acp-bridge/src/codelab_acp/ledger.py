"""What the bridge remembers so that a new WebSocket can take over from a dropped one.

The bridge is a transport: messages pass through unchanged, except for what resuming needs.

- ``initialize``: the editor's params, kept to introduce each new connection; the bridge asks the gateway for each
  update's ``seq`` (``clientCapabilities._meta["codelab.dev"].seq``).
- sessions: each session the editor opened, loaded or resumed, with its working directory (``session/resume`` on a
  new connection).
- requests the gateway has not answered yet; a ``session/prompt`` gets a ``codelab.dev/messageId`` (the runtime's
  idempotency key), so asking again after a drop never runs the prompt twice.
- per session, the last ``seq`` the editor received and the text of the agent message it is in the middle of: what
  ``_codelab/prompt_resume`` sends, so the editor gets exactly what it missed.
- the gateway's own requests (``fs/*``, ``terminal/*``, permissions) get bridge ids: an answer the editor gives
  after the connection that asked is gone is dropped, never delivered to a new connection under a reused id.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

EXTENSIONS = "codelab.dev"
SEQ_META = "codelab.dev/seq"
MESSAGE_META = "codelab.dev/messageId"
RESUME_METHOD = "_codelab/prompt_resume"

Message = dict[str, Any]


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(slots=True)
class Cursor:
    last_seq: int = 0
    streamed: str = ""  # the agent message the editor is in the middle of


class Ledger:
    def __init__(self) -> None:
        self.initialize: Message | None = None
        self.sessions: dict[str, str] = {}
        self.pending: dict[Any, Message] = {}
        self.cursors: dict[str, Cursor] = {}
        self._asked: dict[int, tuple[int, Any]] = {}  # our id towards the editor → (connection, gateway's id)
        self._ids = itertools.count(1)

    # editor → gateway ------------------------------------------------------------------------------------------

    def from_editor(self, message: Message, connection: int) -> Message | None:
        """What to send to the gateway for ``message`` (None: nothing, e.g. an answer for a connection gone)."""
        method = message.get("method")
        if method is None:
            return self._answer(message, connection)
        params = message.get("params")
        if not isinstance(params, dict):
            return message
        if method == "initialize":
            message = {**message, "params": _with_seq(params)}
            self.initialize = message["params"]
        elif method == "session/prompt":
            meta = _object(params.get("_meta"))
            message = {**message, "params": {**params, "_meta": {MESSAGE_META: uuid.uuid4().hex, **meta}}}
            self.cursors.setdefault(str(params.get("sessionId")), Cursor()).streamed = ""
        elif method in ("session/load", "session/resume") and isinstance(params.get("cwd"), str):
            self.sessions[str(params.get("sessionId"))] = params["cwd"]
        if "id" in message:
            self.pending[message["id"]] = message
        return message

    def _answer(self, message: Message, connection: int) -> Message | None:
        answer_id = message.get("id")
        asked = self._asked.pop(answer_id, None) if isinstance(answer_id, int) else None
        if asked is None or asked[0] != connection:
            return None
        return {**message, "id": asked[1]}

    # gateway → editor ------------------------------------------------------------------------------------------

    def from_gateway(self, message: Message, connection: int) -> Message | None:
        """What to write to the editor for ``message``."""
        method = message.get("method")
        if method is None:
            request = self.pending.pop(message.get("id"), None)
            if request is not None and request.get("method") == "session/new":
                self._learn_session(request, message)
            return message
        if "id" in message:
            ours = next(self._ids)
            self._asked[ours] = (connection, message["id"])
            return {**message, "id": ours}
        if method == "session/update":
            self._follow(message.get("params"))
        return message

    def _learn_session(self, request: Message, answer: Message) -> None:
        result, params = answer.get("result"), request.get("params")
        if isinstance(result, dict) and isinstance(params, dict) and isinstance(params.get("cwd"), str):
            self.sessions[str(result.get("sessionId"))] = params["cwd"]

    def _follow(self, params: Any) -> None:
        if not isinstance(params, dict):
            return
        meta, update = params.get("_meta"), params.get("update")
        cursor = self.cursors.setdefault(str(params.get("sessionId")), Cursor())
        seq = meta.get(SEQ_META) if isinstance(meta, dict) else None
        if isinstance(seq, int) and seq > cursor.last_seq:
            cursor.last_seq = seq
        if not isinstance(update, dict):
            return
        if update.get("sessionUpdate") == "agent_message_chunk":
            content = update.get("content")
            if isinstance(content, dict) and isinstance(content.get("text"), str):
                cursor.streamed += content["text"]
        else:
            cursor.streamed = ""

    # a new connection ------------------------------------------------------------------------------------------

    def reintroduction(self, connection: int) -> list[Message]:
        """The bridge's own requests that make a new connection continue the old one: ``initialize`` (unless the
        editor's own is still unanswered) and ``session/resume`` for each session. Ids start with ``codelab-acp/``."""
        messages: list[Message] = []
        editor_initializing = any(m.get("method") == "initialize" for m in self.pending.values())
        if self.initialize is not None and not editor_initializing:
            messages.append(_request(f"codelab-acp/{connection}/initialize", "initialize", self.initialize))
        for n, (session_id, cwd) in enumerate(self.sessions.items()):
            params = {"sessionId": session_id, "cwd": cwd, "mcpServers": []}
            messages.append(_request(f"codelab-acp/{connection}/resume/{n}", "session/resume", params))
        return messages

    def unanswered(self) -> list[Message]:
        """The editor's requests to send again, in order; a prompt becomes ``_codelab/prompt_resume``."""
        messages = []
        for message in self.pending.values():
            params = message.get("params")
            if message.get("method") == "session/prompt" and isinstance(params, dict):
                session_id = str(params.get("sessionId"))
                cursor = self.cursors.get(session_id, Cursor())
                meta = _object(params.get("_meta"))
                resume = {
                    "sessionId": session_id,
                    "lastSeq": cursor.last_seq,
                    "streamed": cursor.streamed,
                    "messageId": meta.get(MESSAGE_META),
                    "prompt": params.get("prompt"),
                }
                messages.append(_request(message["id"], RESUME_METHOD, resume))
            else:
                messages.append(message)
        return messages


def _with_seq(params: Message) -> Message:
    capabilities = _object(params.get("clientCapabilities"))
    meta = _object(capabilities.get("_meta"))
    meta = {**meta, EXTENSIONS: {**_object(meta.get(EXTENSIONS)), "seq": True}}
    return {**params, "clientCapabilities": {**capabilities, "_meta": meta}}


def _request(request_id: Any, method: str, params: Message) -> Message:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
