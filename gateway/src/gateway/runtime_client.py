"""The agent runtime over HTTP: frames in, chunk streams out, the event log for resume, and REST forwarding.

Streams are opened in two steps on purpose: ``open_*`` returns once the runtime has answered with its status line,
so the caller learns about a refusal (400/403/404/409/422) before it commits to relaying, and frames sent on one
socket reach the runtime in the order the client sent them even though their streams are relayed concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from service_kit.http import envelope_message, internal_headers
from service_kit.sse import SSEDecoder
from service_kit.stream_client import ConnectFailed, HttpError, ReadTimeout, StreamClient, StreamResponse
from service_kit.subject import SUBJECT_HEADER, encode_subject

PEER = "agent runtime"
# The ownership probe runs inside the WebSocket handshake, which the IDE gives 5 s in all.
PROBE_TIMEOUT = 2.0


class RuntimeUnavailable(Exception):
    """The runtime could not be reached (503), was too slow (504), or answered garbage (502)."""

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RuntimeRefused(Exception):
    """The runtime answered with an error status; ``status`` and ``message`` come from its envelope."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(slots=True)
class Chunk:
    """One runtime event: the parsed chunk, its ``seq`` (None if the runtime sent no id) and when it arrived."""

    data: dict[str, Any]
    seq: int | None
    received_at: float


class ChunkStream:
    """An accepted runtime SSE response; iterate ``chunks()`` once, and ``close()`` to leave early."""

    def __init__(self, response: StreamResponse) -> None:
        self._response = response

    async def chunks(self) -> AsyncIterator[Chunk]:
        decoder = SSEDecoder()
        try:
            with _stream_errors():
                async for raw in self._response:
                    for event in decoder.feed(raw):
                        data = orjson.loads(event.data)
                        if not isinstance(data, dict):
                            continue
                        seq = int(event.id) if event.id is not None and event.id.isdigit() else None
                        yield Chunk(data, seq, time.perf_counter())
        except orjson.JSONDecodeError as exc:
            raise RuntimeUnavailable(f"{PEER} sent a malformed event", 502) from exc
        finally:
            self._response.close()

    async def raw(self) -> AsyncIterator[bytes]:
        """The stream's bytes as the runtime sent them (events, ids, heartbeats), for a client that reads SSE."""
        try:
            with _stream_errors():
                async for data in self._response:
                    yield data
        finally:
            self._response.close()

    def close(self) -> None:
        self._response.close()


@contextlib.contextmanager
def _stream_errors() -> Iterator[None]:
    """A runtime stream that went silent or broke, as ``RuntimeUnavailable``."""
    try:
        yield
    except ReadTimeout as exc:
        raise RuntimeUnavailable(f"{PEER} stopped answering ({exc}, not even a heartbeat)", 504) from exc
    except HttpError as exc:
        raise RuntimeUnavailable(f"{PEER} stream interrupted: {exc}", 502) from exc


@dataclass(frozen=True, slots=True)
class SessionProbe:
    """What the gateway learns before a socket opens on a known session."""

    owner: str | None
    outstanding_calls: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A REST answer of the runtime, passed on as it came."""

    status: int
    body: bytes
    content_type: str


class RuntimeClient:
    """Every call the gateway makes to the agent runtime. ``subject`` becomes ``X-Subject`` when set."""

    def __init__(self, http: StreamClient, key: str, stream_timeout: float, rest_timeout: float) -> None:
        self._http = http
        self._key = key
        self._stream_timeout = stream_timeout
        self._rest_timeout = rest_timeout

    def _headers(self, subject: str | None, accept: str = "application/json") -> dict[str, str]:
        headers = internal_headers(self._key, accept=accept)
        if subject is not None:
            headers[SUBJECT_HEADER] = encode_subject(subject)
        return headers

    async def open_message(self, session_id: str | None, message: dict[str, Any], subject: str | None) -> ChunkStream:
        """POST one client frame to ``/agent/message/stream``; returns once the runtime accepted it."""
        body = orjson.dumps({"session_id": session_id, "message": message})
        headers = self._headers(subject, "text/event-stream")
        return await self._open("POST", "/agent/message/stream", headers, body=body)

    async def open_events(self, session_id: str, after: int, subject: str | None) -> ChunkStream:
        """Follow ``/sessions/{id}/events?after=N``: the log after ``after``, then live events."""
        return await self.follow(f"/sessions/{quote(session_id, safe='')}/events?after={after}", subject)

    async def follow(self, target: str, subject: str | None, last_event_id: str | None = None) -> ChunkStream:
        """Open the runtime's event stream at ``target`` (path and query, already percent-encoded); returns once the
        runtime accepted it (else ``RuntimeRefused`` with its status and message)."""
        headers = self._headers(subject, "text/event-stream")
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        return await self._open("GET", target, headers)

    async def probe_session(self, session_id: str, subject: str | None) -> SessionProbe:
        """The session's owner and the tool calls handed to the IDE that still wait for a result; 404 (as
        ``RuntimeRefused``) when the session does not exist for ``subject``."""
        path = f"/sessions/{quote(session_id, safe='')}/outstanding-tool-calls"
        answer = await self.forward("GET", path, "", b"", subject, limit=PROBE_TIMEOUT)
        if answer.status != 200:
            raise RuntimeRefused(f"{PEER} answered HTTP {answer.status}", answer.status)
        try:
            body = orjson.loads(answer.body)
            calls = body.get("tool_calls") or []
            owner = body.get("owner")
        except (orjson.JSONDecodeError, AttributeError) as exc:
            raise RuntimeUnavailable(f"{PEER} sent a malformed answer", 502) from exc
        return SessionProbe(owner if isinstance(owner, str) else None, [c for c in calls if isinstance(c, dict)])

    async def forward(
        self, method: str, path: str, query: str, body: bytes, subject: str | None, *, limit: float | None = None
    ) -> Forwarded:
        """One REST call passed through: method, query string and body in; status, body and type out. ``limit``
        overrides the REST timeout (seconds)."""
        # Already percent-encoded (the client's raw path and query): sent as is, never re-encoded or normalised.
        target = path + (f"?{query}" if query else "")
        try:
            async with asyncio.timeout(self._rest_timeout if limit is None else limit):
                response = await self._http.request(method, target, headers=self._headers(subject), body=body or None)
                payload = await response.read()
        except ValueError as exc:  # a target the request line cannot carry
            raise RuntimeRefused("invalid path", 400) from exc
        except TimeoutError as exc:
            raise RuntimeUnavailable(f"{PEER} did not answer in time", 504) from exc
        except HttpError as exc:
            raise RuntimeUnavailable(f"{PEER} unavailable: {exc}", _connection_status(exc)) from exc
        return Forwarded(response.status, payload, response.headers.get("content-type", "application/json"))

    async def _open(self, method: str, path: str, headers: dict[str, str], *, body: bytes | None = None) -> ChunkStream:
        try:
            response = await self._http.request(
                method, path, headers=headers, body=body, read_timeout=self._stream_timeout
            )
        except ReadTimeout as exc:
            raise RuntimeUnavailable(f"{PEER} did not answer in time ({exc})", 504) from exc
        except HttpError as exc:
            raise RuntimeUnavailable(f"{PEER} unavailable: {exc}", _connection_status(exc)) from exc
        if response.status != 200:
            try:
                message = envelope_message(await response.read(), response.status, PEER)
            except HttpError:
                message = f"{PEER} answered HTTP {response.status}"
            raise RuntimeRefused(message, response.status)
        return ChunkStream(response)


def _connection_status(exc: HttpError) -> int:
    """Refused or unresolvable: the runtime is down (503); a connection that broke mid-answer: 502."""
    return 503 if isinstance(exc, ConnectFailed) else 502
