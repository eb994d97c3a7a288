"""The llm-proxy over HTTP: streamed OpenAI chat completions, parsed once per chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from service_kit.http import error_message, internal_headers
from service_kit.sse import SSEDecoder


class LLMError(Exception):
    """The llm-proxy refused or failed the completion; ``status`` is its HTTP status (0 when unreachable)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LLMProxyClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, key: str) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/v1/chat/completions"
        self._key = key

    async def stream_chat(
        self, *, model: str, messages: list[dict[str, Any]], session_id: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield each OpenAI chunk as a dict; raise ``LLMError`` on an HTTP error, a stream error or a cut stream."""
        headers = internal_headers(self._key, accept="text/event-stream")
        if session_id is not None:
            headers["X-Session-Id"] = session_id  # the llm-proxy tags its usage records with it
        body = {"model": model, "messages": messages, "stream": True, "stream_options": {"include_usage": True}}
        try:
            async with self._http.post(self._url, data=orjson.dumps(body), headers=headers) as response:
                if response.status != 200:
                    raise LLMError(response.status, await error_message(response, "llm-proxy"))
                decoder = SSEDecoder()
                async for raw in response.content.iter_any():
                    for event in decoder.feed(raw):
                        if event.data == b"[DONE]":
                            return
                        chunk = orjson.loads(event.data)
                        if "error" in chunk:
                            raise LLMError(502, str(chunk["error"].get("message", "upstream error")))
                        yield chunk
                raise LLMError(502, "the model stream ended before it was complete")
        except aiohttp.ClientError as exc:
            raise LLMError(0, f"llm-proxy unreachable: {type(exc).__name__}") from exc
