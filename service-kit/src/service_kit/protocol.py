"""uvicorn's httptools protocol with a bound on a request's head (request line and headers), checked before any work.

uvicorn and httptools put no limit on the head: a 100 MB ``Authorization`` header was read, accumulated (httptools
grows a header value by concatenation, quadratic in its size) and handed to the app, 76 s and 170 MB later, just to
be refused with a 401. Here a head over the limit is answered ``431`` in the JSON error envelope and the connection
closed, before the app sees the request:

- a head that arrives whole in one read is measured exactly when it is complete (request target + every header
  name and value + the separators);
- a head still incomplete after the read in which it began is counted read by read, and cut as soon as those bytes
  pass the limit: memory and time stay bounded by one read (at most 256 KiB with uvloop) plus the limit.

A request answered before its body was read to the end (a 413 once the body passes its limit, see
``BodyLimitMiddleware``) is closed the same lingering way: what follows is dropped unread for a short while, so the
client reads the answer instead of a connection reset.

The WebSocket handshake is parsed by the same protocol, so it is bounded the same way. A request the parser cannot
read at all gets its 400 in the JSON envelope too (uvicorn answers it in plain text).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service_kit.errors import error_body

DEFAULT_MAX_HEADER_BYTES = 16 * 1024
# After the 431 the rest of the request is read and dropped for at most this long before the connection closes: closing
# with unread data would reset the connection, and the reset can destroy the 431 before the client reads it.
LINGER_SECONDS = 2.0
_HEADER_LINE_OVERHEAD = 4  # ": " and CRLF


class _HeadTooLarge(Exception):
    """Raised from the parser's callback; ``feed_data`` reports it as a callback error with this as its context."""


class _LingeringClose:
    """The connection's transport as uvicorn's request cycles see it: ``close()`` while the request's body is still
    arriving (an answer before the whole body, e.g. a 413) becomes a lingering close, everything else is the
    transport's own."""

    def __init__(self, transport: asyncio.Transport, protocol: HeadLimitedHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self.write = transport.write
        self.is_closing = transport.is_closing

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        cycle = self._protocol.cycle
        if cycle is not None and cycle.more_body and not cycle.disconnected and not self._transport.is_closing():
            self._protocol.linger()
        else:
            self._transport.close()


class HeadLimitedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` refusing a request whose head exceeds ``max_header_bytes`` with 431 (see the module)."""

    max_header_bytes = DEFAULT_MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_pending = False  # a request's head began and is not complete yet
        self._head_bytes = 0  # of the reads after the one in which the pending head began
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._raw_transport = transport
        self.transport = _LingeringClose(transport, self)  # type: ignore[assignment]

    def handle_websocket_upgrade(self) -> None:
        self.transport = self._raw_transport  # the WebSocket protocol writes to the transport itself
        super().handle_websocket_upgrade()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the rest of a refused request, dropped
        if self._head_pending:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._refuse_head()
                return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse_head()
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_pending = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._head_pending = False
        size = len(self.url) + sum(len(name) + len(value) + _HEADER_LINE_OVERHEAD for name, value in self.headers)
        if size > self.max_header_bytes:
            raise _HeadTooLarge()
        super().on_headers_complete()

    def eof_received(self) -> None:
        if self._refused:
            self._raw_transport.close()
        super().eof_received()

    def send_400_response(self, msg: str) -> None:
        """A request the parser cannot read (malformed, a ``Content-Length`` past 64 bits...): 400 in the envelope."""
        self._refuse(400, "Bad Request", error_body(400, f"invalid HTTP request: {msg}", code="invalid_http"))

    def _refuse_head(self) -> None:
        self._head_pending = False
        self.logger.warning("Request headers larger than %d bytes refused.", self.max_header_bytes)
        message = f"the request headers exceed {self.max_header_bytes} bytes"
        self._refuse(431, "Request Header Fields Too Large", error_body(431, message, code="request_headers_too_large"))

    def _refuse(self, status: int, reason: str, body: bytes) -> None:
        """Answer ``status`` with ``body`` (JSON), then drop what the client still sends and close."""
        head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        if not self._raw_transport.is_closing():
            self._raw_transport.write(head.encode() + b"connection: close\r\n\r\n" + body)
            self.linger()

    def linger(self) -> None:
        """Close after the answer written so far without resetting the connection: end our side, then drop whatever
        the client still sends until it closes too or ``LINGER_SECONDS`` pass (closing with unread data would send
        a reset, which can destroy the answer before the client reads it)."""
        self._refused = True
        self._raw_transport.resume_reading()
        self._raw_transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self._raw_transport.close)


def head_limited_protocol(max_header_bytes: int) -> type[HeadLimitedHttpToolsProtocol]:
    """The protocol class for uvicorn's ``http`` option with this limit."""
    return type("HeadLimitedHttpToolsProtocol", (HeadLimitedHttpToolsProtocol,), {"max_header_bytes": max_header_bytes})
