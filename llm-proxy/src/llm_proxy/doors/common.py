"""What every front door does the same way: read the body, resolve the model, follow an opened stream with the
one usage ledger, and name the caller."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.types import Receive, Scope

from llm_proxy.catalog import ModelEntry
from llm_proxy.completion import CompletionRun
from llm_proxy.dispatch import OpenedStream
from llm_proxy.errors import ProxyError, unknown_model_error, validation_error
from llm_proxy.providers.base import Batch
from llm_proxy.state import ProxyState
from service_kit.asgi import BodyTooLarge, read_body
from service_kit.middleware import header


async def read_request(state: ProxyState, scope: Scope, receive: Receive) -> bytes | None:
    """The request body within ``MAX_REQUEST_BYTES`` (else a 413 ``ProxyError``); ``None`` when the client left."""
    try:
        return await read_body(scope, receive, state.settings.max_request_bytes)
    except BodyTooLarge as exc:
        raise ProxyError("too_large", str(exc)) from None


Body = TypeVar("Body", bound=BaseModel)


def parse_json(model: type[Body], raw: bytes) -> Body:
    """The request body as ``model``: invalid JSON or a failed validation is a 400 naming the parameter."""
    try:
        return model.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise ProxyError("bad_request", "the request body is not valid JSON") from None
    except ValidationError as exc:
        raise validation_error(exc) from None


def resolve_model(state: ProxyState, name: str | None) -> ModelEntry:
    """The deployment of ``name`` (the default model when ``None``); an unknown name is a 404 ``ProxyError``."""
    name = name or state.settings.default_model
    entry = state.catalog.resolve(name)
    if entry is None:
        raise unknown_model_error(name, state.catalog.available())
    return entry


def completion_batches(
    state: ProxyState, scope: Scope, opened: OpenedStream, prompt_tokens: int
) -> AsyncGenerator[Batch, None]:
    """The opened stream's batches, recorded in the metrics and the session's usage (``X-Session-Id``) the same way
    whatever the door."""
    run = CompletionRun(
        opened,
        metrics=state.metrics,
        sessions=state.sessions,
        session_id=session_id(scope),
        prompt_estimate=prompt_tokens,
        secrets=state.secrets,
    )
    return run.batches()


def session_id(scope: Scope) -> str | None:
    """The session a request's usage is recorded under: ``X-Session-Id``, else the ``session-id`` header the Codex
    CLI sends with every request of one session; ``None`` without either."""
    value = header(scope, b"x-session-id") or header(scope, b"session-id")
    return value.decode("latin-1") if value is not None else None


def caller_id(scope: Scope) -> str:
    """Who is calling: a digest of the credential the auth middleware accepted (never the credential itself), so
    what one caller stores is invisible to another."""
    presented = header(scope, b"x-internal-auth")
    if presented is None:
        bearer = header(scope, b"authorization") or b""
        presented = bearer[7:].strip() if bearer[:7].lower() == b"bearer " else header(scope, b"x-api-key") or b""
    return hashlib.sha256(presented).hexdigest()[:32]
