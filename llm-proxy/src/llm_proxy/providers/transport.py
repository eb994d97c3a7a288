"""The HTTP side every remote provider shares: one request, typed failures, and body chunks with a stall watchdog.

Each provider owns one long-lived aiohttp session (keep-alive). No retries here: the dispatcher runs the only
retry loop. The silence allowed between body reads is enforced by one timer per stream that is re-armed only
when it fires (not one ``asyncio.timeout`` per read, which measured ~4 µs a read here).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

import aiohttp
import orjson

from llm_proxy.errors import ProxyError, parse_retry_after
from llm_proxy.providers.base import Batch
from service_kit.http import new_http_session

Classifier = Callable[[int, bytes, float | None], ProxyError]
_DRAIN_S = 1.0  # how long the rest of a finished body may take before its connection is dropped instead


def new_session(connect_timeout: float) -> aiohttp.ClientSession:
    """A keep-alive session for one provider; built in the app's lifespan."""
    return new_http_session(connect_timeout=connect_timeout)


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], classify: Classifier
) -> aiohttp.ClientResponse:
    """POST ``body``; a non-2xx answer becomes ``classify(status, body, retry_after)``."""
    try:
        response = await session.post(url, data=body, headers=headers)
    except TimeoutError:
        raise ProxyError("timeout", "connecting to the upstream timed out") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise ProxyError("connection", f"the upstream is unreachable ({type(exc).__name__})") from None
    if response.status < 400:
        return response
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    try:
        raw = await response.read()
    except (aiohttp.ClientError, OSError, TimeoutError):
        raw = b""
    finally:
        response.release()
    raise classify(response.status, raw, retry_after)


class _Stalled(Exception):
    """Set on the body reader by the watchdog; never leaves this module."""


class _Watchdog:
    __slots__ = ("_content", "_gap", "_handle", "_loop", "reading", "started")

    def __init__(self, content: aiohttp.StreamReader, gap: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._content = content
        self._gap = gap
        self._handle: asyncio.TimerHandle | None = None
        self.reading = False
        self.started = 0.0

    def begin_read(self) -> None:
        self.reading = True
        self.started = self._loop.time()
        if self._handle is None:
            self._handle = self._loop.call_at(self.started + self._gap, self._check)

    def _check(self) -> None:
        self._handle = None
        if not self.reading:
            return  # the consumer is busy downstream; the next read re-arms
        deadline = self.started + self._gap
        if self._loop.time() >= deadline:
            self._content.set_exception(_Stalled())
        else:
            self._handle = self._loop.call_at(deadline, self._check)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class UpstreamBody:
    """A streamed upstream body. ``chunks`` yields it as it arrives: the first read is bounded by the dispatcher's
    first-byte timeout, later ones by ``inter_chunk``; a reset or a stall raises ``ProxyError``. A provider that
    reached its logical end (``[DONE]``, ``message_stop``…) calls ``finish`` so the keep-alive connection goes back
    to the pool; ``close`` (always, in a ``finally``) drops a connection that was not finished."""

    __slots__ = ("_done", "_inter_chunk", "_response", "_watchdog")

    def __init__(self, response: aiohttp.ClientResponse, inter_chunk: float) -> None:
        self._response = response
        self._inter_chunk = inter_chunk
        self._watchdog = _Watchdog(response.content, inter_chunk)
        self._done = False

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        content = self._response.content
        watchdog = self._watchdog
        try:
            chunk = await content.readany()
            while chunk:
                yield chunk
                watchdog.begin_read()
                chunk = await content.readany()
                watchdog.reading = False
        except _Stalled:
            raise ProxyError("timeout", f"the upstream stream stalled for more than {self._inter_chunk:g} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ProxyError("connection", f"the upstream connection broke ({type(exc).__name__})") from None

    async def finish(self) -> None:
        """Read what is left of the body (normally just its terminator) and release the connection."""
        self._watchdog.cancel()
        content = self._response.content
        try:
            async with asyncio.timeout(_DRAIN_S):
                while await content.readany():
                    pass
        except (TimeoutError, aiohttp.ClientError, OSError):
            return  # ``close`` drops the connection
        self._done = True
        self._response.release()

    def close(self) -> None:
        self._watchdog.cancel()
        if not self._done:
            self._done = True
            if self._response.content.at_eof():
                self._response.release()
            else:
                self._response.close()  # never hand a half-read connection back to the pool


class HttpProvider:
    """What every remote provider holds: its long-lived session, the upstream URL and headers, and the silence
    allowed between body reads. Subclasses build the request body and parse their wire format."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        headers: dict[str, str],
        inter_chunk: float,
        *,
        enabled: bool,
    ) -> None:
        self._session = session
        self._url = url
        self._headers = headers
        self._inter_chunk = inter_chunk
        self._enabled = enabled

    @property
    def configured(self) -> bool:
        """Whether it has what it needs (a key, a base URL) to be called."""
        return self._enabled

    async def aclose(self) -> None:
        await self._session.close()

    async def _post(self, body: bytes, classify: Classifier) -> aiohttp.ClientResponse:
        return await post(self._session, self._url, body, self._headers, classify)

    async def _post_json(self, url: str, body: bytes, classify: Classifier) -> dict[str, Any]:
        """POST ``body`` to ``url`` and read one JSON object back (a whole answer, e.g. embeddings); the answer may
        take the silence allowed inside a stream."""
        response = await post(self._session, url, body, self._headers, classify)
        try:
            async with asyncio.timeout(self._inter_chunk):
                raw = await response.read()
        except TimeoutError:
            raise ProxyError("timeout", f"the upstream answer took more than {self._inter_chunk:g} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ProxyError("connection", f"the upstream connection broke ({type(exc).__name__})") from None
        finally:
            response.release()
        return json_object(raw, "answer")


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    """One upstream ``what`` (chunk, event, line) parsed as a JSON object, or ``ProxyError("malformed")``."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProxyError("malformed", f"the upstream sent a {what} that is not JSON") from None
    if not isinstance(data, dict):
        raise ProxyError("malformed", f"the upstream sent a {what} that is not a JSON object")
    return data


async def read_batches(body: UpstreamBody, parse: Callable[[bytes, Batch], bool]) -> AsyncGenerator[Batch, None]:
    """One batch of deltas per read of ``body``: ``parse`` appends the deltas of the bytes read and says whether the
    answer is over (then the body is finished, so its connection is reused). A parse error still yields the deltas
    before it, then raises. The body is always closed."""
    try:
        async for raw in body.chunks():
            batch: Batch = []
            try:
                over = parse(raw, batch)
            except ProxyError:
                if batch:
                    yield batch
                raise
            if batch:
                yield batch
            if over:
                await body.finish()
                return
    finally:
        body.close()
