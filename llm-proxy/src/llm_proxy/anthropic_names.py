"""The Anthropic Messages API's names for the proxy's neutral ones, in one place: the Messages door writes them, the
anthropic provider reads them back."""

from __future__ import annotations

# neutral finish reason → Anthropic stop_reason
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
# Anthropic stop_reason → neutral finish reason
FINISH_REASONS = {stop: finish for finish, stop in STOP_REASONS.items()} | {"stop_sequence": "stop"}

# ProxyError kind → Anthropic error type (others are "api_error")
ERROR_TYPES = {
    "bad_request": "invalid_request_error",
    "context_window": "invalid_request_error",
    "not_found": "not_found_error",
    "too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "unavailable": "overloaded_error",
    "timeout": "timeout_error",
}
# Anthropic error type → ProxyError kind (an unknown type is "server")
ERROR_KINDS = {type_: kind for kind, type_ in ERROR_TYPES.items() if kind != "context_window"} | {
    "api_error": "server",
    "authentication_error": "upstream_auth",
    "permission_error": "upstream_auth",
}
