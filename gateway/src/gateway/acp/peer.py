"""The requests the gateway makes to the ACP client (``fs/*``, ``terminal/*``, ``session/request_permission``)
and the answers it waits for."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from gateway.acp import jsonrpc


class ClientError(Exception):
    """The client answered a request with a JSON-RPC error (``code``, ``message``)."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: {message}")
        self.code = code
        self.message = message


class ClientGone(Exception):
    """The connection ended while a request waited for its answer."""


class ClientPeer:
    """Numbered requests out, answers matched by id. ``send`` queues one message for the socket."""

    def __init__(self, send: Callable[[jsonrpc.Message], None]) -> None:
        self._send = send
        self._ids = itertools.count(1)
        self._waiting: dict[jsonrpc.RequestId, tuple[str, asyncio.Future[Any]]] = {}
        self._gone = False

    async def call(self, method: str, params: dict[str, Any], within: float | None = None) -> Any:
        """The client's ``result``, within ``within`` seconds; or ``ClientError``, ``ClientGone``, ``TimeoutError``."""
        if self._gone:
            raise ClientGone("the connection is closed")
        request_id = next(self._ids)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = (method, answer)
        self._send(jsonrpc.request(request_id, method, params))
        try:
            async with asyncio.timeout(within):
                return await answer
        finally:
            self._waiting.pop(request_id, None)

    def answer(self, response: jsonrpc.Response) -> bool:
        """Deliver the client's answer; False when nothing waits for that id (late, unknown or answered)."""
        waiting = self._waiting.pop(response.id, None)
        if waiting is None:
            return False
        method, future = waiting
        if future.done():
            return False
        if response.error is not None:
            code = response.error.get("code")
            message = response.error.get("message")
            future.set_exception(
                ClientError(
                    method,
                    code if isinstance(code, int) else jsonrpc.INTERNAL_ERROR,
                    str(message) if message else "error without a message",
                )
            )
        else:
            future.set_result(response.result)
        return True

    def close(self) -> None:
        """Every waiting request fails with ``ClientGone``; later calls too."""
        self._gone = True
        for _method, future in self._waiting.values():
            if not future.done():
                future.set_exception(ClientGone("the connection closed"))
        self._waiting.clear()
