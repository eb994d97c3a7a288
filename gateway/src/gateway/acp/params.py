"""Request params checked against the official ACP schema types (the ``agent-client-protocol`` package).

Only methods the client calls rarely are validated this way (``initialize``, ``session/new``, ``session/prompt``…):
a pydantic model per request is cheap there. Nothing per token goes through these models (see ``updates``).
A failure is a -32602 whose message names the field, in the schema's camelCase.
"""

from __future__ import annotations

from typing import Any, TypeVar

from acp import schema
from pydantic import BaseModel, ValidationError

from gateway.acp import jsonrpc
from gateway.acp.workspace import Workspace

M = TypeVar("M", bound=BaseModel)

MODELS: dict[str, type[BaseModel]] = {
    "initialize": schema.InitializeRequest,
    "authenticate": schema.AuthenticateRequest,
    "session/new": schema.NewSessionRequest,
    "session/load": schema.LoadSessionRequest,
    "session/resume": schema.ResumeSessionRequest,
    "session/list": schema.ListSessionsRequest,
    "session/prompt": schema.PromptRequest,
    "session/set_mode": schema.SetSessionModeRequest,
    "session/cancel": schema.CancelNotification,
}


def validated(model: type[M], method: str, params: dict[str, Any], request_id: jsonrpc.RequestId) -> M:
    """``params`` as ``model``, or ``RpcError`` -32602 naming the first bad field."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "params"
        message = f"invalid params for {method}: {where}: {first['msg']}"
        raise jsonrpc.RpcError(jsonrpc.INVALID_PARAMS, message, request_id) from None


def absolute_cwd(cwd: str, method: str, request_id: jsonrpc.RequestId) -> Workspace:
    if not Workspace.is_absolute(cwd):
        raise jsonrpc.RpcError(
            jsonrpc.INVALID_PARAMS, f"invalid params for {method}: cwd: must be an absolute path", request_id
        )
    return Workspace(cwd)
