"""The llm-proxy over HTTP: streamed OpenAI chat completions, parsed once per chunk (``service_kit.stream_client``,
the internal hops' client)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from service_kit.http import envelope_message, internal_headers
from service_kit.sse import SSEDecoder
from service_kit.stream_client import HttpError, StreamClient

_COMPLETIONS = "/v1/chat/completions"
_MODELS_TIMEOUT = 10.0  # seconds of silence before the model list counts as unavailable


class LLMError(Exception):
    """The llm-proxy refused or failed the completion; ``status`` is its HTTP status (0 when unreachable)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LLMProxyClient:
    def __init__(self, http: StreamClient, key: str) -> None:
        self._http = http
        self._key = key

    async def stream_chat(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield each OpenAI chunk as a dict; raise ``LLMError`` on an HTTP error, a stream error or a cut stream.
        ``tools`` go out with ``tool_choice: auto``; ``response_format`` e.g. ``{"type": "json_object"}``."""
        headers = internal_headers(self._key, accept="text/event-stream")
        if session_id is not None:
            headers["X-Session-Id"] = session_id  # the llm-proxy tags its usage records with it
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"], body["tool_choice"] = tools, "auto"
        if response_format is not None:
            body["response_format"] = response_format
        try:
            response = await self._http.request("POST", _COMPLETIONS, headers=headers, body=orjson.dumps(body))
        except HttpError as exc:
            raise LLMError(0, f"llm-proxy unreachable: {exc}") from exc
        try:
            if response.status != 200:
                raise LLMError(response.status, envelope_message(await response.read(), response.status, "llm-proxy"))
            decoder = SSEDecoder()
            async for raw in response:
                for event in decoder.feed(raw):
                    if event.data == b"[DONE]":
                        response.release()  # the body's end follows at once: keep the connection
                        return
                    chunk = orjson.loads(event.data)
                    if "error" in chunk:
                        raise LLMError(502, str(chunk["error"].get("message", "upstream error")))
                    yield chunk
            raise LLMError(502, "the model stream ended before it was complete")
        except HttpError as exc:
            raise LLMError(502, f"the llm-proxy stream broke: {exc}") from exc
        finally:
            response.close()


class LLMProxyModels:
    """Context windows from the llm-proxy's ``GET /v1/llm/models``, fetched on first use and again at most every
    ``refresh`` seconds when a model is unknown; None (the caller's default) while the proxy cannot say."""

    def __init__(self, http: StreamClient, key: str, *, refresh: float = 60.0) -> None:
        self._http = http
        self._key = key
        self._refresh = refresh
        self._windows: dict[str, int] = {}
        self._fetched_at: float | None = None

    async def window(self, model: str) -> int | None:
        if model not in self._windows and self._due():
            await self._fetch()
        return self._windows.get(model)

    def _due(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at >= self._refresh

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            response = await self._http.request(
                "GET", "/v1/llm/models", headers=internal_headers(self._key), read_timeout=_MODELS_TIMEOUT
            )
            body = await response.read()
            if response.status != 200:
                return
            items = orjson.loads(body)
        except (HttpError, orjson.JSONDecodeError):
            return
        for item in items if isinstance(items, list) else ():
            length = item.get("context_length") if isinstance(item, dict) else None
            if isinstance(length, int) and length > 0:
                self._windows[str(item.get("id"))] = length
