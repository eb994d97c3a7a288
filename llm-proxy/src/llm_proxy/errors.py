"""The one exception the proxy raises for anything that ends a completion, with its HTTP meaning attached.

Providers translate their upstream's failures into ``ProxyError`` at the edge, so the dispatcher decides on
retries, fallbacks and cooldowns from ``kind`` alone and the API answers with ``status`` in the OpenAI envelope.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from service_kit.errors import validation_message

# kind → (HTTP status downstream, error type, retry on the same deployment, try the next deployment)
_KINDS: dict[str, tuple[int, str, bool, bool]] = {
    "bad_request": (400, "invalid_request_error", False, False),
    "context_window": (400, "invalid_request_error", False, True),
    "not_found": (404, "not_found_error", False, False),
    "too_large": (413, "invalid_request_error", False, False),
    "rate_limit": (429, "rate_limit_error", True, True),
    "upstream_auth": (502, "api_error", False, True),
    "server": (502, "api_error", True, True),
    "unavailable": (503, "api_error", True, True),
    "connection": (502, "api_error", True, True),
    "malformed": (502, "api_error", True, True),
    "truncated": (502, "api_error", True, True),
    "timeout": (504, "timeout_error", False, True),
}

_CODES = {
    "context_window": "context_length_exceeded",
    "not_found": "model_not_found",
    "too_large": "request_too_large",
    "rate_limit": "rate_limit_exceeded",
    "upstream_auth": "upstream_auth_error",
    "server": "upstream_error",
    "unavailable": "upstream_unavailable",
    "connection": "upstream_connection_error",
    "malformed": "upstream_malformed_response",
    "truncated": "upstream_stream_truncated",
    "timeout": "upstream_timeout",
}


class ProxyError(Exception):
    """A completion could not be (fully) produced. ``kind`` is one of the keys of ``_KINDS``."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        retry_after: float | None = None,
        param: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.param = param
        self.code = code or _CODES.get(kind)
        self.extra = extra or {}

    def scrub(self, secrets: tuple[str, ...]) -> ProxyError:
        """Mask configured secrets in the message: an upstream may echo a key back in its error text."""
        for secret in secrets:
            if secret in self.message:
                self.message = self.message.replace(secret, "[REDACTED]")
        return self

    @property
    def status(self) -> int:
        return _KINDS[self.kind][0]

    @property
    def retryable(self) -> bool:
        """Worth another attempt on the same deployment (before the first byte went downstream)."""
        return _KINDS[self.kind][2]

    @property
    def falls_back(self) -> bool:
        """Worth trying the next deployment of the chain."""
        return _KINDS[self.kind][3]

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": _KINDS[self.kind][1],
            "code": self.code,
            "param": self.param,
        }
        error.update(self.extra)
        return {"error": error}

    def body(self) -> bytes:
        return orjson.dumps(self.envelope())

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, round(self.retry_after)))}


def from_status(status: int, message: str, *, retry_after: float | None = None) -> ProxyError:
    """The error for an upstream HTTP status, when the body said nothing more specific."""
    if status == 429:
        return ProxyError("rate_limit", message, retry_after=retry_after)
    if status in (401, 403):
        return ProxyError("upstream_auth", "the upstream provider refused the proxy's credentials")
    if status == 404:
        return ProxyError("not_found", message)
    if status == 413:
        return ProxyError("too_large", message)
    if status in (408, 504):
        return ProxyError("timeout", message)
    if status in (503, 529):
        return ProxyError("unavailable", message, retry_after=retry_after)
    if 400 <= status < 500:
        return ProxyError("bad_request", message)
    return ProxyError("server", message)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form; HTTP dates are rare from LLM APIs)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def context_length_error(needed: int, available: int, model: str) -> ProxyError:
    """The typed error for a prompt that cannot fit, with the counts a client needs to trim it."""
    return ProxyError(
        "context_window",
        f"This model's maximum context length is {available} tokens. However, your request needs about "
        f"{needed} tokens ({model}). Please reduce the length of the messages or of max_tokens.",
        param="messages",
        extra={"needed_tokens": needed, "available_tokens": available},
    )


def unknown_model_error(name: str, available: str) -> ProxyError:
    """The 404 for a model the table does not know, listing the ones it does (``Catalog.available``)."""
    return ProxyError("not_found", f"The model '{name}' does not exist; available models: {available}", param="model")


def validation_error(exc: ValidationError, *, param: str | None = None, fallback: str | None = None) -> ProxyError:
    """A pydantic validation failure as the 400 naming the first bad parameter (``param`` when given, else the
    failure's location, else ``fallback``)."""
    message, where = validation_message(list(exc.errors(include_url=False, include_input=False)))  # type: ignore[arg-type]
    return ProxyError("bad_request", message, param=param or where or fallback, code="invalid_request")
