"""The IDE as far as the wire goes (shared/reference/ide-protocol.md §1-§5): its login, its REST calls and its
credential-less WebSocket, with the client's own rules.

- Login: ``POST {base}/oauth/token``, form-urlencoded, ``client_id=codelab-flutter-app``; a 2xx answer must carry
  ``access_token``, ``refresh_token``, ``token_type`` and ``expires_in`` or the login fails.
- Expiry is computed as ``issued_at + expires_in`` on the IDE's clock; with less than 300 s left it refreshes first.
- Every REST call carries ``Authorization: Bearer``; a 401 refreshes once and retries; a failed refresh logs out.
- The WebSocket carries no credentials at all; every frame it sends has every key of the client's model.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import websockets

CLIENT_ID = "codelab-flutter-app"
REFRESH_MARGIN = 300.0
FRAME_KEYS = [
    "type",
    "content",
    "role",
    "is_final",
    "call_id",
    "tool_name",
    "arguments",
    "requires_approval",
    "result",
    "error",
    "agent_type",
    "from_agent",
    "to_agent",
    "reason",
    "metadata",
]


class LoggedOut(Exception):
    """The IDE would show its login page again."""


class Ide:
    """One IDE instance against ``base`` (e.g. ``http://127.0.0.1:8000``); ``clock`` is the IDE's wall clock."""

    def __init__(self, base: str, clock: Callable[[], float] = time.time) -> None:
        self.base = base
        self.clock = clock
        self.http = httpx.AsyncClient(base_url=base, timeout=15)
        self.tokens: dict[str, Any] | None = None
        self.refreshes = 0
        self.statuses: list[int] = []  # every REST status the IDE saw, retries included

    async def aclose(self) -> None:
        await self.http.aclose()

    async def login(self, username: str, password: str) -> None:
        form = {"grant_type": "password", "username": username, "password": password, "client_id": CLIENT_ID}
        self.tokens = self._parse(await self.http.post("/oauth/token", data=form))

    async def rest(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A REST call under ``/api/v1`` the IDE's way."""
        if self.tokens is None:
            raise LoggedOut("not logged in")
        if self._expires_at() - self.clock() < REFRESH_MARGIN:
            await self.refresh()
        response = await self._call(method, path, **kwargs)
        if response.status_code == 401:
            await self.refresh()
            response = await self._call(method, path, **kwargs)
        return response

    async def refresh(self) -> None:
        assert self.tokens is not None
        form = {"grant_type": "refresh_token", "refresh_token": self.tokens["refresh_token"], "client_id": CLIENT_ID}
        answer = await self.http.post("/oauth/token", data=form)
        self.refreshes += 1
        try:
            self.tokens = self._parse(answer)
        except LoggedOut:
            self.tokens = None
            raise

    def ws_url(self, session_id: str) -> str:
        return self.base.replace("http", "ws", 1) + f"/api/v1/ws/{session_id}"

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        assert self.tokens is not None
        headers = {"Authorization": f"Bearer {self.tokens['access_token']}"}
        response = await self.http.request(method, "/api/v1" + path, headers=headers, **kwargs)
        self.statuses.append(response.status_code)
        return response

    def _expires_at(self) -> float:
        assert self.tokens is not None
        issued = self.tokens.get("issued_at")
        start = datetime.fromisoformat(issued.replace("Z", "+00:00")).timestamp() if issued else self.clock()
        return start + float(self.tokens["expires_in"])

    @staticmethod
    def _parse(answer: httpx.Response) -> dict[str, Any]:
        if not answer.is_success:
            raise LoggedOut(f"Authentication failed ({answer.status_code}: {answer.text})")
        body = answer.json()
        for key, kind in (("access_token", str), ("refresh_token", str), ("token_type", str), ("expires_in", int)):
            if not isinstance(body.get(key), kind):
                raise LoggedOut(f"Authentication failed (no {key})")
        return dict(body)


def frame(**values: Any) -> str:
    """A frame as the IDE sends it: every key of its model, null when unused."""
    sent = dict.fromkeys(FRAME_KEYS)
    sent.update(values)
    return json.dumps(sent)


async def receive_until(
    ws: websockets.ClientConnection, last: Callable[[dict[str, Any]], bool], timeout: float = 20.0
) -> list[dict[str, Any]]:
    """Frames until (and including) the one ``last`` accepts; each frame must be one the IDE can render."""
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not received or not last(received[-1]):
            data = json.loads(await ws.recv())
            assert data.get("type") not in ("done", "status"), f"the IDE renders {data} as an empty bubble"
            assert data.get("is_final") is not False, f"the IDE would render a bubble per token: {data}"
            received.append(data)
    return received
