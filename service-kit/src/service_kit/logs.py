"""structlog logs, one line per event, with secrets redacted before anything is written.

A line is a JSON object (for machines: the default when stdout is not a terminal) or, for a person at a terminal,
a compact coloured line: time, level, event, then ``key=value`` pairs (``log_format``: ``auto``/``json``/``console``).

Redaction works on two levels: values under secret-looking keys are replaced whatever they hold, and the
literal secrets the service was configured with (internal key, provider keys) are masked wherever they appear,
so a key that leaks into an exception message or a URL still never reaches the log.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import orjson
import structlog

from service_kit.settings import LogFormat

REDACTED = "[REDACTED]"
_SECRET_KEYS = re.compile(r"(authorization|api[_-]?key|internal[_-]?auth|secret|password|token|cookie)$", re.I)
_QUERY = re.compile(r"\?\S*")


class _Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: REDACTED if _is_secret_key(k) else self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value

    def __call__(self, _logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            event[key] = REDACTED if _is_secret_key(key) else self.scrub(value)
        return event


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEYS.search(key) is not None and key != "token_count"


class _StripQueryStrings(logging.Filter):
    """uvicorn logs WebSocket handshakes with the full query string, where a client may carry a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(_QUERY.sub("", a) if isinstance(a, str) else a for a in record.args)
        return True


def _render(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
    return orjson.dumps(event, default=str).decode()


def _for_a_person(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # 2026-12-02T02:40:07.123456Z → 02:40:07.123: a person reading a terminal needs the time of day, not the date;
    # and knows which service it is (its window, or dev.sh's coloured prefix).
    stamp = event.get("timestamp")
    if isinstance(stamp, str) and len(stamp) >= 23:
        event["timestamp"] = stamp[11:23]
    event.pop("service", None)
    return event


def _console_renderer(colors: bool) -> Any:
    return structlog.dev.ConsoleRenderer(
        colors=colors, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback, sort_keys=False
    )


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def configure_logging(
    service: str,
    level: str,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    *,
    log_format: LogFormat = "json",
) -> None:
    """Configure structlog and the standard library (uvicorn, aiohttp, sqlalchemy) to write one line per event to
    ``stream`` (stdout): JSON, or with ``console`` (``auto`` on a terminal) a compact coloured line for a person."""
    redact = _Redactor(secrets)
    stream = stream or sys.stdout
    console = log_format == "console" or (log_format == "auto" and _is_terminal(stream))
    render: list[Any] = [_for_a_person, _console_renderer("NO_COLOR" not in os.environ)] if console else [_render]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        # Filtering first: a call below the level costs one comparison, not the whole chain.
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    def add_service(_l: Any, _m: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("service", service)
        return event

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            add_service,
            redact,
            *render,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(_StripQueryStrings())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # requests are logged by RequestContextMiddleware
