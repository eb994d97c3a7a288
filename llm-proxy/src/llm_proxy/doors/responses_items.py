"""What the Responses door's items carry in both directions: a custom tool's free-form input (offered to the model as a
function of one string argument) and reasoning sealed into ``encrypted_content``."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from pydantic import ValidationError

from llm_proxy.schemas import ReasoningBlock

CUSTOM_INPUT = "input"  # the one string argument a custom tool is offered to the model with
SEALED_PREFIX = "codelab-reasoning.v1."  # the proxy's encrypted_content: a whole signed or redacted block


def custom_tool_input(arguments: str) -> str:
    """The free-form input of a custom tool's call from the JSON arguments the model produced (``{"input": …}``);
    arguments that are not that object are passed on as the input itself."""
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get(CUSTOM_INPUT), str):
        return str(value[CUSTOM_INPUT])
    return arguments


def seal(block: dict[str, Any]) -> str:
    """A signed reasoning block (``thinking`` + ``signature``, or ``redacted_thinking`` + ``data``) as one opaque
    ``encrypted_content``. The whole block travels in it, because clients send reasoning items back without their
    text (the Codex CLI drops ``reasoning_text`` content) and a signature is worthless without the exact text."""
    return SEALED_PREFIX + base64.urlsafe_b64encode(orjson.dumps(block)).decode()


def unseal(value: str) -> ReasoningBlock | None:
    """The block ``seal`` made, or ``None`` for any other value (e.g. another API's encrypted reasoning)."""
    if not value.startswith(SEALED_PREFIX):
        return None
    try:
        return ReasoningBlock.model_validate(orjson.loads(base64.urlsafe_b64decode(value[len(SEALED_PREFIX) :])))
    except (ValueError, orjson.JSONDecodeError, ValidationError):
        return None
