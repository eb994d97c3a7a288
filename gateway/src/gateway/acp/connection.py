"""One ACP connection (a WebSocket): JSON-RPC in, each request answered by its own task, the client's answers to
the gateway's requests matched by id, and the sessions this connection opened or loaded.

Like the IDE's socket (``ws.connection``), it is a ``Channel``: the reader only parses and hands on, so
``session/cancel`` and the client's answers are taken while a prompt runs; everything leaves through the bounded
buffer and its one writer. Malformed input gets its JSON-RPC error and the connection stays usable.
"""

from __future__ import annotations

from typing import Any

import structlog

from gateway.acp import jsonrpc
from gateway.acp.client_tools import Capabilities
from gateway.acp.methods import METHODS, NOTIFICATIONS, OPEN_METHODS
from gateway.acp.peer import ClientGone, ClientPeer
from gateway.acp.session import AcpSession, Link
from gateway.auth import Authenticator, Principal
from gateway.metrics import GatewayMetrics
from gateway.runtime_client import RuntimeClient, RuntimeRefused, RuntimeUnavailable
from gateway.ws.channel import Channel
from gateway.ws.closes import Closing
from gateway.ws.outbound import OutboundBuffer, SlowConsumer
from gateway.ws.sink import FrameSink

_log = structlog.get_logger(__name__)

REQUESTS_IN_FLIGHT = 256  # requests of one connection being answered at once; more is a client not waiting


class AcpConnection(Channel):
    """``principal`` is None until the client authenticates (auth modes that need credentials, none presented)."""

    def __init__(
        self,
        sink: FrameSink,
        metrics: GatewayMetrics,
        buffer: OutboundBuffer,
        *,
        runtime: RuntimeClient,
        authenticator: Authenticator,
        principal: Principal | None,
        connection_id: str,
    ) -> None:
        super().__init__(sink, metrics, buffer)
        self.runtime = runtime
        self.authenticator = authenticator
        self.principal = principal
        self.connection_id = connection_id
        self.peer = ClientPeer(self.send_message)
        self.initialized = False
        self.capabilities = Capabilities()
        self.with_seq = False
        self.sessions: dict[str, AcpSession] = {}
        self.agents: list[dict[str, Any]] | None = None  # the runtime's agents (the modes), fetched once
        self._in_flight = 0

    def log_fields(self) -> dict[str, Any]:
        return {"acp_connection": self.connection_id}

    @property
    def subject(self) -> str | None:
        return self.principal.subject if self.principal is not None else None

    def link(self) -> Link:
        return Link(self.runtime, self.subject, self.peer, self.capabilities, self.send, self.with_seq)

    def send_message(self, message: jsonrpc.Message) -> None:
        """A response, an error or a request of ours: queued at once, in order with the updates before it."""
        kind = "response" if "method" not in message else str(message["method"])
        self.send_control(message, kind)

    # inbound ---------------------------------------------------------------------------------------------------

    def receive(self, text: str) -> None:
        """One text frame from the reader; never blocks."""
        try:
            message = jsonrpc.parse(text)
        except jsonrpc.RpcError as exc:
            self.metrics.frame_in("invalid")
            self.send_message(exc.answer())
            return
        if isinstance(message, jsonrpc.Response):
            self.metrics.frame_in("response")
            self.peer.answer(message)
            return
        known = message.method in METHODS or message.method in NOTIFICATIONS
        self.metrics.frame_in(message.method if known else "unknown")
        if isinstance(message, jsonrpc.Notification):
            handler = NOTIFICATIONS.get(message.method)
            if handler is not None and self._may_call(message.method):
                handler(self, message.params)  # unknown notifications are ignored, as JSON-RPC says
            return
        if self._in_flight >= REQUESTS_IN_FLIGHT:
            self.send_message(jsonrpc.error(message.id, jsonrpc.INTERNAL_ERROR, "too many requests in flight"))
            return
        self._in_flight += 1
        self.spawn(self._answer(message))

    def _may_call(self, method: str) -> bool:
        return self.initialized and (self.principal is not None or method in OPEN_METHODS)

    async def _answer(self, request: jsonrpc.Request) -> None:
        try:
            self.send_message(jsonrpc.result(request.id, await self._result(request)))
        except jsonrpc.RpcError as exc:
            self.send_message(jsonrpc.error(request.id, exc.code, exc.message, exc.data))
        except RuntimeRefused as exc:
            if exc.status == 403:
                # Never say whether another subject's session exists: the same answer as a missing one.
                exc = RuntimeRefused("session not found", 404)
            self.send_message(jsonrpc.error(request.id, _refused_code(exc.status), exc.message))
        except RuntimeUnavailable as exc:
            self.metrics.error("runtime_unavailable")
            self.send_message(jsonrpc.error(request.id, jsonrpc.INTERNAL_ERROR, exc.message))
        except (Closing, SlowConsumer):
            raise  # the connection ends (the channel closes it with the code)
        except ClientGone:
            pass  # the client left while we waited for it: nobody to answer
        except Exception:  # noqa: BLE001 -- a bug answers this request with -32603; the connection goes on
            _log.exception("acp request failed", method=request.method, **self.log_fields())
            self.metrics.error("internal")
            self.send_message(jsonrpc.error(request.id, jsonrpc.INTERNAL_ERROR, "internal error"))
        finally:
            self._in_flight -= 1

    async def _result(self, request: jsonrpc.Request) -> Any:
        handler = METHODS.get(request.method)
        if handler is None:
            raise jsonrpc.RpcError(jsonrpc.METHOD_NOT_FOUND, f"method not found: {request.method[:80]}")
        if not self.initialized and request.method != "initialize":
            raise jsonrpc.RpcError(jsonrpc.INVALID_REQUEST, "not initialized: the first request must be initialize")
        if self.principal is None and request.method not in OPEN_METHODS:
            raise jsonrpc.RpcError(jsonrpc.AUTH_REQUIRED, "authentication required: call authenticate first")
        return await handler(self, request)

    def session(self, session_id: str, request_id: jsonrpc.RequestId) -> AcpSession:
        """A session this connection opened or loaded, or -32002."""
        found = self.sessions.get(session_id)
        if found is None:
            raise jsonrpc.RpcError(
                jsonrpc.RESOURCE_NOT_FOUND,
                f"session {session_id[:80]} is not open here: session/new, session/load or session/resume first",
                request_id,
            )
        return found

    # lifecycle -------------------------------------------------------------------------------------------------

    async def stop(self) -> None:
        await super().stop()  # the tasks first: a request waiting for the client is cancelled, not failed
        self.peer.close()


def _refused_code(status: int) -> int:
    if status == 404:
        return jsonrpc.RESOURCE_NOT_FOUND
    if status in (400, 413, 422):
        return jsonrpc.INVALID_PARAMS
    if status == 401:
        return jsonrpc.AUTH_REQUIRED
    return jsonrpc.INTERNAL_ERROR
