"""A ``session/prompt``'s content blocks as the one text a ``user_message`` carries.

Text goes as it is; a resource link becomes a mention of the file (relative to the working directory when it is
inside it); an embedded text resource is appended as context with its URI. Images and audio are refused with
-32602: the runtime's messages are text, and ``initialize`` says so (``promptCapabilities``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlparse

from acp import schema

from gateway.acp import jsonrpc
from gateway.acp.workspace import Workspace


def prompt_text(blocks: list[Any], workspace: Workspace, request_id: jsonrpc.RequestId) -> str:
    parts: list[str] = []
    context: list[str] = []
    for block in blocks:
        if isinstance(block, schema.TextContentBlock):
            parts.append(block.text)
        elif isinstance(block, schema.ResourceContentBlock):
            parts.append(f"@{_mention(block.uri, workspace)}")
        elif isinstance(block, schema.EmbeddedResourceContentBlock):
            resource = block.resource
            if not isinstance(resource, schema.TextResourceContents):
                raise _unsupported("binary embedded resources", request_id)
            context.append(f'<context uri="{_mention(resource.uri, workspace)}">\n{resource.text}\n</context>')
        else:
            raise _unsupported(f"{getattr(block, 'type', 'this')} content", request_id)
    text = "".join(parts).strip()
    if context:
        text = "\n\n".join([text, *context]) if text else "\n\n".join(context)
    if not text:
        raise jsonrpc.RpcError(jsonrpc.INVALID_PARAMS, "invalid params for session/prompt: prompt: empty", request_id)
    return text


def _mention(uri: str, workspace: Workspace) -> str:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = unquote(parsed.path)
        return workspace.relative(path) if workspace.contains(path) else path
    return uri


def _unsupported(what: str, request_id: jsonrpc.RequestId) -> jsonrpc.RpcError:
    message = (
        f"invalid params for session/prompt: prompt: {what} is not supported (text, resource links, text resources)"
    )
    return jsonrpc.RpcError(jsonrpc.INVALID_PARAMS, message, request_id)
