"""The agent runtime over HTTP: one inbound frame in, the runtime's chunk stream out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from service_kit.http import error_message, internal_headers
from service_kit.sse import SSEDecoder


class RuntimeUnavailable(Exception):
    """The runtime could not be reached, refused the frame, or cut the stream."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RuntimeClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, key: str, stream_timeout: float) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._key = key
        self._timeout = aiohttp.ClientTimeout(total=None, sock_read=stream_timeout)

    async def stream_message(self, session_id: str | None, message: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """POST the frame to ``/agent/message/stream`` and yield each chunk (with its ``seq`` from the event id)."""
        body = orjson.dumps({"session_id": session_id, "message": message})
        try:
            async with self._http.post(
                f"{self._base}/agent/message/stream",
                data=body,
                headers=internal_headers(self._key, accept="text/event-stream"),
                timeout=self._timeout,
            ) as response:
                if response.status != 200:
                    raise RuntimeUnavailable(await error_message(response, "agent runtime"), response.status)
                decoder = SSEDecoder()
                async for raw in response.content.iter_any():
                    for event in decoder.feed(raw):
                        chunk = orjson.loads(event.data)
                        if event.id is not None and event.id.isdigit():
                            chunk["seq"] = int(event.id)
                        yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RuntimeUnavailable(f"agent runtime unavailable: {type(exc).__name__}") from exc
