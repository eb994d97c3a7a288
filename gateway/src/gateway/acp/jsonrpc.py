"""JSON-RPC 2.0 framing as ACP uses it: one message per text frame, no batches, request ids echoed as they came.

``parse`` sorts an inbound text into a ``Request``, a ``Notification`` or a ``Response`` (to a request the gateway
made), or raises ``RpcError`` with the code and the id to answer with (``None`` when the id is unknown, as for a
parse error). The builders return plain dicts; the channel's writer encodes them with orjson.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
REQUEST_CANCELLED = -32800
AUTH_REQUIRED = -32000
RESOURCE_NOT_FOUND = -32002

RequestId = str | int | None
Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Request:
    id: RequestId
    method: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notification:
    method: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Response:
    """The client's answer to a request of ours: ``result``, or ``error`` (``{code, message, data?}``)."""

    id: RequestId
    result: Any = None
    error: dict[str, Any] | None = None


class RpcError(Exception):
    """An error to answer with; ``id`` is the request's id (None when it could not be read)."""

    def __init__(self, code: int, message: str, request_id: RequestId = None, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = request_id
        self.data = data

    def answer(self) -> Message:
        return error(self.id, self.code, self.message, self.data)


Inbound = Request | Notification | Response


def parse(text: str) -> Inbound:
    """One inbound message, or ``RpcError``."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RpcError(PARSE_ERROR, f"parse error: {exc.msg} at position {exc.pos}") from None
    if isinstance(raw, list):
        raise RpcError(INVALID_REQUEST, "batches are not supported: send one JSON-RPC message per frame")
    if not isinstance(raw, dict):
        raise RpcError(INVALID_REQUEST, "a message must be a JSON object")
    has_id = "id" in raw
    request_id = raw.get("id")
    if has_id and not _valid_id(request_id):
        raise RpcError(INVALID_REQUEST, "'id' must be a string, an integer or null")
    if raw.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "'jsonrpc' must be \"2.0\"", request_id)
    method = raw.get("method")
    if method is None:
        return _response(raw, has_id, request_id)
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, "'method' must be a non-empty string", request_id)
    params = raw.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, f"params of {method[:60]} must be an object", request_id)
    if has_id:
        return Request(request_id, method, params)
    return Notification(method, params)


def _valid_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _response(raw: dict[str, Any], has_id: bool, request_id: RequestId) -> Response:
    if not has_id:
        raise RpcError(INVALID_REQUEST, "a message needs 'method' (a request or notification) or 'id' (a response)")
    if ("result" in raw) == ("error" in raw):
        raise RpcError(INVALID_REQUEST, "a response needs exactly one of 'result' and 'error'", request_id)
    failure = raw.get("error")
    if "error" in raw and not isinstance(failure, dict):
        raise RpcError(INVALID_REQUEST, "'error' must be an object", request_id)
    return Response(request_id, raw.get("result"), failure)


def result(request_id: RequestId, value: Any) -> Message:
    return {"jsonrpc": "2.0", "id": request_id, "result": value}


def error(request_id: RequestId, code: int, message: str, data: Any = None) -> Message:
    body: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        body["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": body}


def notification(method: str, params: dict[str, Any]) -> Message:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def request(request_id: RequestId, method: str, params: dict[str, Any]) -> Message:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
