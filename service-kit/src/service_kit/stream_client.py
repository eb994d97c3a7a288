"""HTTP/1.1 for the services' internal hops (gateway → agent-runtime → llm-proxy): a request out, the response
body streamed back, keep-alive connections reused.

Why not aiohttp here: on these hops every token is one small body chunk, and aiohttp's client spends ~0.7 ms of CPU
between ``post()`` and the request reaching the peer (request and URL objects, header multidicts, tracing hooks,
connector bookkeeping) and a task wake-up plus its stream reader per chunk. This client is an asyncio protocol
around httptools' C parser (the one uvicorn serves with): the request is written in one ``write``; each
``data_received`` feeds the parser, whose body callbacks append to the response and wake its reader at most once per
batch. It speaks just what the hops need: one base URL, ``Content-Length`` bodies out, chunked or sized bodies in,
no TLS, no proxies, no redirects. External services (model providers, JWKS) keep aiohttp.

Failures are typed: :class:`ConnectFailed` (nothing was sent: refused, unresolvable, connect timeout),
:class:`StreamBroken` (the connection broke or the peer sent something that is not HTTP) and :class:`ReadTimeout`
(no byte for ``read_timeout`` seconds). A request on a reused connection that the peer had closed while idle is
sent again once on a new connection, when not a byte of an answer came back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools

_PAUSE_AT = 1 << 20  # bytes buffered for a slow reader before the socket stops being read
_DRAIN_S = 0.5  # how long a released response's connection may take to finish its body and be reused


class HttpError(Exception):
    """A failed exchange with the peer."""


class ConnectFailed(HttpError):
    """No connection to the peer (nothing was sent)."""


class StreamBroken(HttpError):
    """The connection broke, or the peer's bytes are not HTTP, before the response was complete."""


class ReadTimeout(HttpError, TimeoutError):
    """The peer sent nothing for ``read_timeout`` seconds."""


class StreamResponse:
    """A response whose status and headers arrived; the body follows (``async for`` chunks, or ``read()``).
    ``release()`` when the caller has all it needs (``data: [DONE]``): the rest of the body is skipped and the
    connection reused once it ends; ``close()`` leaves early (the connection is dropped)."""

    def __init__(self, connection: _Connection, read_timeout: float | None) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}  # lower-case names
        self._connection = connection
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._complete = False
        self._released = False
        self._error: HttpError | None = None
        self._read_timeout = read_timeout
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        if read_timeout is not None:
            self._timer = self._loop.call_later(read_timeout, self._check_idle)

    # Fed by the connection (the parser's callbacks).
    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > _PAUSE_AT:
            self._connection.pause()
        self._wake()

    def _end(self, error: HttpError | None = None) -> None:
        if self._complete or self._error is not None:
            return
        if error is None:
            self._complete = True
        else:
            self._error = error
        self._stop_timer()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _seen(self) -> None:
        if self._timer is not None:  # only a read timeout needs the time of the last byte
            self._last = self._loop.time()

    def _check_idle(self) -> None:
        assert self._read_timeout is not None
        idle = self._loop.time() - self._last
        if idle >= self._read_timeout:
            self._timer = None
            self._connection.abort(ReadTimeout(f"no data for {self._read_timeout:g} s"))
        else:
            self._timer = self._loop.call_later(self._read_timeout - idle, self._check_idle)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # Read by the caller.
    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._body()

    async def _body(self) -> AsyncIterator[bytes]:
        try:
            while True:
                if self._chunks:
                    data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
                    self._chunks.clear()
                    if self._buffered > _PAUSE_AT:
                        self._connection.resume()
                    self._buffered = 0
                    yield data
                elif self._error is not None:
                    raise self._error
                elif self._complete:
                    return
                else:
                    self._waiter = self._loop.create_future()
                    try:
                        await self._waiter
                    finally:
                        self._waiter = None
        finally:
            if not self._complete:
                self.close()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self])

    def release(self) -> None:
        """The caller is done with a body that is about to end: skip what is left of it, and reuse the connection
        if it ends within a moment (otherwise it is dropped)."""
        self._stop_timer()
        if self._complete or self._released or self._error is not None:
            return
        self._released = True
        self._error = StreamBroken("the response was released by the caller")
        self._chunks.clear()
        self._connection.drain()

    def close(self) -> None:
        """Leave the response (its connection is closed unless the body was complete or released)."""
        self._stop_timer()
        if not self._complete and not self._released:
            self._error = self._error or StreamBroken("the response was closed by the caller")
            self._connection.abort(None)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one exchange at a time."""

    def __init__(self, pool: list[_Connection]) -> None:
        self._pool = pool
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._response: StreamResponse | None = None
        self._headers_done: asyncio.Future[None] | None = None
        self._header_names: list[bytes] = []
        self._header_values: list[bytes] = []
        self.answered = False  # a byte of the current exchange's answer arrived
        self.closed = False
        self._draining: asyncio.TimerHandle | None = None  # the body is being skipped (a released response)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.answered = True
        if self._response is not None:
            self._response._seen()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.abort(StreamBroken(f"the peer's answer is not HTTP: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        with contextlib.suppress(ValueError):
            self._pool.remove(self)
        self._fail(StreamBroken("the connection was closed before the answer was complete"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_names.append(name)
        self._header_values.append(value)

    def on_headers_complete(self) -> None:
        response = self._response
        if response is None:
            return
        response.status = self._parser.get_status_code()
        response.headers = {
            n.decode("latin-1").lower(): v.decode("latin-1")
            for n, v in zip(self._header_names, self._header_values, strict=True)
        }
        if self._headers_done is not None and not self._headers_done.done():
            self._headers_done.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self._response is not None and self._draining is None:
            self._response._feed(body)

    def on_message_complete(self) -> None:
        if self._draining is not None:
            self._draining.cancel()
            self._draining = None
        response, self._response = self._response, None
        if response is not None:
            response._end()
        if self._parser.should_keep_alive() and not self.closed:
            self._pool.append(self)  # free for the next exchange
        elif self.transport is not None:
            self.transport.close()

    # used by the client and the response
    async def exchange(self, request: bytes, read_timeout: float | None) -> StreamResponse:
        assert self.transport is not None
        self.answered = False
        self._header_names.clear()
        self._header_values.clear()
        response = self._response = StreamResponse(self, read_timeout)
        self._headers_done = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            await self._headers_done
        except BaseException:
            response.close()
            raise
        return response

    def drain(self) -> None:
        """Skip the rest of the current body; drop the connection if it does not end within ``_DRAIN_S``."""
        if self.closed or self._response is None:
            return
        self.resume()
        self._draining = asyncio.get_running_loop().call_later(_DRAIN_S, self.abort, None)

    def pause(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def abort(self, error: HttpError | None) -> None:
        """Drop the connection; the exchange in progress ends with ``error``."""
        if self._draining is not None:
            self._draining.cancel()
            self._draining = None
        if error is not None:
            self._fail(error)
        self.closed = True
        with contextlib.suppress(ValueError):
            self._pool.remove(self)
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, error: HttpError) -> None:
        if self._headers_done is not None and not self._headers_done.done():
            self._headers_done.set_exception(error)
        response, self._response = self._response, None
        if response is not None:
            response._end(error)


class StreamClient:
    """Requests to one base URL (``http://host:port``) over reused connections."""

    def __init__(self, base_url: str, *, connect_timeout: float = 5.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"an internal hop speaks plain http://host:port, not {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._host_header = parts.netloc.encode("latin-1")
        self._connect_timeout = connect_timeout
        self._idle: list[_Connection] = []
        self._closing = False

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        read_timeout: float | None = None,
    ) -> StreamResponse:
        """Send the request and return once the status line and headers are in. ``path`` (with its query) is
        sent as given, already percent-encoded (``ValueError`` when it or a header would break the request line).
        ``read_timeout``: longest silence while waiting for bytes."""
        request = self._encode(method, path, headers, body)
        connection = self._idle_connection()
        if connection is not None:
            try:
                return await connection.exchange(request, read_timeout)
            except StreamBroken:
                if connection.answered:
                    raise  # the peer had started answering: not safe to send again
                # closed by the peer while idle: once more on a new connection
        connection = await self._connect()
        return await connection.exchange(request, read_timeout)

    async def aclose(self) -> None:
        self._closing = True
        for connection in list(self._idle):
            connection.abort(None)
        self._idle.clear()

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self) -> _Connection:
        if self._closing:
            raise ConnectFailed("the client is closed")
        loop = asyncio.get_running_loop()
        connection = _Connection(self._idle)
        try:
            async with asyncio.timeout(self._connect_timeout):
                await loop.create_connection(lambda: connection, self._host, self._port)
        except TimeoutError as exc:
            raise ConnectFailed(f"connecting to {self._host}:{self._port} timed out") from exc
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self._host}:{self._port}: {exc.strerror or exc}") from exc
        return connection

    def _encode(self, method: str, path: str, headers: Mapping[str, str], body: bytes | None) -> bytes:
        if not path.startswith("/") or any(c in path for c in " \r\n\t"):
            raise ValueError(f"{path!r} cannot be a request target")
        lines = [f"{method} {self._prefix}{path} HTTP/1.1".encode("latin-1"), b"Host: " + self._host_header]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} carries a line break")
            lines.append(f"{name}: {value}".encode("latin-1"))
        payload = body or b""
        if payload or method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: " + str(len(payload)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + payload
