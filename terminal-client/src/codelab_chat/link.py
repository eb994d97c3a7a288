"""The WebSocket to the gateway in the v2 dialect, surviving dropped connections.

Every session frame carries ``seq``. The link remembers the highest one it delivered; when the connection drops
(or the server closes with 1001 going-away or 1013 slow-consumer) it reconnects with backoff to the session's real
id and sends ``resume{last_seq}``, so the gateway replays exactly what was missed. Frames with a ``seq`` at or below
the last delivered one are dropped here too, so nothing reaches the caller twice. Frames the caller sends while the
link is down wait in an outbox and go out right after the resume. A patient link (the interactive client) never
gives up on an unreachable gateway: it says what it is doing and keeps trying until the person quits.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

Frame = dict[str, Any]

# Closes that a reconnect cannot fix: the server refused us (1008) or our frames were wrong (1003, 1007, 1009).
_FATAL_CLOSE_CODES = frozenset({1003, 1007, 1008, 1009})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_FRAME_BYTES = 16 * 1024 * 1024
_DRAIN_SECONDS = 0.02  # enough for a frame already received to be handed over; nothing new is waited for


class LinkClosed(Exception):
    """The connection is gone for good (refused, fatal close code, or reconnects exhausted)."""


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential backoff with jitter: ``initial_delay`` doubling up to ``max_delay``; ``attempts`` tries, or
    without end when ``attempts`` is None."""

    attempts: int | None = 10
    initial_delay: float = 0.2
    max_delay: float = 5.0

    def delays(self) -> Iterator[float]:
        delay = self.initial_delay
        for _ in range(self.attempts) if self.attempts is not None else itertools.count():
            yield delay * random.uniform(0.75, 1.25)  # noqa: S311 - jitter, not cryptography
            delay = min(delay * 2, self.max_delay)


def socket_url(base_url: str, session_id: str) -> str:
    """``ws://host:8000`` + id → ``ws://host:8000/api/v1/ws/<id>?protocol=2`` (http(s) is read as ws(s))."""
    base = base_url.rstrip("/")
    if base.startswith("http://") or base.startswith("https://"):
        base = "ws" + base[4:]
    if not base.endswith("/ws"):
        base += "/api/v1/ws"
    return f"{base}/{quote(session_id, safe='')}?protocol=2"


def new_session_id() -> str:
    """A placeholder id the gateway replaces with a real one (``session_info``) on the first message."""
    return f"new_{int(time.time() * 1000)}"


class SessionLink:
    """One session's connection: :meth:`receive` yields frames in order, each once, across reconnects."""

    def __init__(
        self,
        base_url: str,
        session_id: str,
        *,
        token: str | None = None,
        policy: ReconnectPolicy | None = None,
        open_timeout: float = 10.0,
        on_notice: Callable[[str], None] | None = None,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url
        self.session_id = session_id
        self.last_seq: int | None = None
        self.reconnects = 0
        self._token = token
        self.policy = policy or ReconnectPolicy()
        self._open_timeout = open_timeout
        self._notice = on_notice or (lambda _text: None)
        self._progress = on_progress or (lambda _text: None)
        self._socket: ClientConnection | None = None
        self._outbox: list[Frame] = []
        self._fruitless_reconnects = 0

    @property
    def patient(self) -> bool:
        """True when the link never gives up reconnecting (only a refusal ends it)."""
        return self.policy.attempts is None

    async def open(self) -> None:
        """Connect once. A refusal raises :class:`LinkClosed`; so does an unreachable gateway, unless the link is
        patient: then it says so and connects when the first frame is to go out."""
        try:
            self._socket = await self._connect()
        except (OSError, TimeoutError, WebSocketException) as exc:
            if not self.patient or _is_refusal(exc):
                raise LinkClosed(_describe_failure(exc, self.base_url)) from exc
            self._notice(f"{_describe_failure(exc, self.base_url)}; messages wait until it answers")

    @property
    def connected(self) -> bool:
        """True while a socket is open (frames go out at once rather than into the outbox)."""
        return self._socket is not None

    def discard_outbox(self) -> list[Frame]:
        """Take back the frames still waiting for a connection (the person stopped waiting for them)."""
        outbox, self._outbox = self._outbox, []
        return outbox

    async def close(self) -> None:
        """Close normally (1000)."""
        if self._socket is not None:
            await self._socket.close()
            self._socket = None

    async def send(self, frame: Frame) -> None:
        """Send one frame; while the link is down it waits in the outbox for the next reconnect."""
        if self._socket is None:
            self._outbox.append(frame)
            return
        try:
            await self._socket.send(orjson.dumps(frame).decode())
        except ConnectionClosed:
            self._outbox.append(frame)

    async def receive(self) -> Frame:
        """The next frame not seen before; reconnects and resumes transparently."""
        while True:
            if self._socket is None:
                await self._reconnect()
            frame = await self._next_new()
            if frame is not None:
                self._fruitless_reconnects = 0
                return frame

    async def drain(self) -> list[Frame]:
        """The frames that arrived while nobody was reading (between exchanges: e.g. the gateway's error about a
        follow-up stream that broke while the person was typing), without waiting for more, so that they are not
        taken for the answer to the next frame sent."""
        frames: list[Frame] = []
        while self._socket is not None:
            try:
                async with asyncio.timeout(_DRAIN_SECONDS):
                    frame = await self._next_new()  # cancelling recv loses nothing (websockets' guarantee)
            except TimeoutError:
                break
            if frame is not None:
                frames.append(frame)
        return frames

    async def _next_new(self) -> Frame | None:
        """The next message of the open socket when it is a frame not seen before, else None; a close drops the
        socket (and raises :class:`LinkClosed` when it is final)."""
        assert self._socket is not None
        try:
            message = await self._socket.recv()
        except ConnectionClosed as exc:
            self._socket = None
            self._check_close(exc)
            return None
        frame = _parse(message)
        return frame if frame is not None and self._is_new(frame) else None

    def _is_new(self, frame: Frame) -> bool:
        seq = frame.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            if self.last_seq is not None and seq <= self.last_seq:
                return False
            self.last_seq = seq
        if frame.get("type") == "session_info" and isinstance(frame.get("session_id"), str):
            self.session_id = frame["session_id"]
        return True

    def _check_close(self, exc: ConnectionClosed) -> None:
        code = exc.rcvd.code if exc.rcvd is not None else 1006
        reason = exc.rcvd.reason if exc.rcvd is not None else ""
        if code in _FATAL_CLOSE_CODES:
            raise LinkClosed(f"the gateway closed the connection ({code}{': ' + reason if reason else ''})")
        if self.session_id.startswith("new_"):
            # Without the real id there is nothing to resume; reconnecting to new_* would start another session.
            self.session_id = new_session_id()  # the next message starts afresh instead
            raise LinkClosed(f"the connection dropped ({code}) before the gateway created the session")
        self._notice(f"connection lost ({code}); reconnecting to resume after seq {self.last_seq}")

    async def _reconnect(self) -> None:
        self._fruitless_reconnects += 1
        attempts = self.policy.attempts
        if attempts is not None and self._fruitless_reconnects > attempts:
            raise LinkClosed("the connection keeps dropping before any frame arrives")
        failure: BaseException | None = None
        for attempt, delay in enumerate(self.policy.delays(), start=1):
            if failure is not None:
                self._progress(
                    f"reconnecting: {_describe_failure(failure, self.base_url)}; "
                    f"attempt {attempt} in {delay:.1f} s (Ctrl-C to stop waiting)"
                )
            await asyncio.sleep(delay)
            try:
                self._socket = await self._connect()
            except (OSError, TimeoutError, WebSocketException) as exc:
                if _is_refusal(exc):
                    raise LinkClosed(_describe_failure(exc, self.base_url)) from exc
                failure = exc
                continue
            self.reconnects += 1
            if failure is not None:
                self._notice("reconnected")
            await self._resume()
            return
        raise LinkClosed(f"could not reconnect: {_describe_failure(failure, self.base_url)}")

    async def _resume(self) -> None:
        assert self._socket is not None
        outbox, self._outbox = self._outbox, []
        # Without a seq nothing of this session was delivered yet; a resume from 0 would replay old turns.
        frames = ([{"type": "resume", "last_seq": self.last_seq}] if self.last_seq is not None else []) + outbox
        for frame in frames:
            try:
                await self._socket.send(orjson.dumps(frame).decode())
            except ConnectionClosed:
                self._outbox.append(frame)

    async def _connect(self) -> ClientConnection:
        url = socket_url(self.base_url, self.session_id)
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        host = urlsplit(url).hostname or ""
        return await connect(
            url,
            additional_headers=headers,
            open_timeout=self._open_timeout,
            compression=None,
            max_size=MAX_FRAME_BYTES,
            proxy=None if host in _LOOPBACK_HOSTS else True,
        )


def _parse(message: str | bytes) -> Frame | None:
    try:
        frame = orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    return frame if isinstance(frame, dict) else None


def _is_refusal(exc: BaseException) -> bool:
    """A handshake the gateway answered with 401, 403 or 404: trying again cannot help."""
    return isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403, 404)


def _describe_failure(exc: BaseException | None, base_url: str) -> str:
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        hint = " (check --token)" if status in (401, 403) else ""
        return f"the gateway at {base_url} refused the connection with HTTP {status}{hint}"
    if isinstance(exc, InvalidURI):
        return f"not a WebSocket URL: {base_url}"
    if isinstance(exc, OSError | TimeoutError):
        local = urlsplit(socket_url(base_url, "x")).hostname in _LOOPBACK_HOSTS
        hint = " (is it running? scripts/dev.sh starts it)" if local and isinstance(exc, ConnectionRefusedError) else ""
        return f"cannot reach the gateway at {base_url}{hint}: {exc or type(exc).__name__}"
    return f"WebSocket failure talking to {base_url}: {exc}"
