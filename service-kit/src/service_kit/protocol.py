"""uvicorn's httptools protocol with a bound on a request's head (request line and headers), checked before any work.

uvicorn and httptools put no limit on the head: a 100 MB ``Authorization`` header was read, accumulated (httptools
grows a header value by concatenation, quadratic in its size) and handed to the app, 76 s and 170 MB later, just to
be refused with a 401. Here a head over the limit is answered ``431`` in the JSON error envelope and the connection
closed, before the app sees the request:

- a head that arrives whole in one read is measured exactly when it is complete (request target + every header
  name and value + the separators);
- a head still incomplete after the read in which it began is counted read by read, and cut as soon as those bytes
  pass the limit: memory and time stay bounded by one read (at most 256 KiB with uvloop) plus the limit. What
  follows is dropped unread for a short linger, so the client can read the 431 before the connection closes.

The WebSocket handshake is parsed by the same protocol, so it is bounded the same way.
"""

from __future__ import annotations

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


class HeadLimitedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` refusing a request whose head exceeds ``max_header_bytes`` with 431 (see the module)."""

    max_header_bytes = DEFAULT_MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_pending = False  # a request's head began and is not complete yet
        self._head_bytes = 0  # of the reads after the one in which the pending head began
        self._refused = False

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
            self.transport.close()
        super().eof_received()

    def _refuse_head(self) -> None:
        self._head_pending = False
        self._refused = True
        self.logger.warning("Request headers larger than %d bytes refused.", self.max_header_bytes)
        body = error_body(
            431, f"the request headers exceed {self.max_header_bytes} bytes", code="request_headers_too_large"
        )
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        if not self.transport.is_closing():
            self.transport.write(head + body)
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)


def head_limited_protocol(max_header_bytes: int) -> type[HeadLimitedHttpToolsProtocol]:
    """The protocol class for uvicorn's ``http`` option with this limit."""
    return type("HeadLimitedHttpToolsProtocol", (HeadLimitedHttpToolsProtocol,), {"max_header_bytes": max_header_bytes})
