"""The llm-proxy over HTTP: streamed OpenAI chat completions, parsed once per chunk (``service_kit.stream_client``,
the internal hops' client).

Liveness: the proxy sends ``: keep-alive`` comments while the model is silent, so a completion that carries no byte
for ``stream_timeout`` seconds is a proxy that stopped answering (a frozen or stopped process keeps its socket open);
that ends the call with a 504 the model caller does not retry."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from service_kit.http import envelope_message, internal_headers
from service_kit.sse import SSEDecoder
from service_kit.stream_client import HttpError, ReadTimeout, StreamClient

_COMPLETIONS = "/v1/chat/completions"
_MODELS_TIMEOUT = 10.0  # seconds of silence before the model list counts as unavailable
# The HTTP status an error event in the stream stands for, from its OpenAI error type (502 for any other).
_STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "timeout_error": 504,
}


class LLMError(Exception):
    """The llm-proxy refused or failed the completion; ``status`` is its HTTP status (0 when unreachable)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LLMProxyClient:
    """``stream_timeout``: the longest silence (heartbeats count) before the proxy is taken for stuck."""

    def __init__(self, http: StreamClient, key: str, *, stream_timeout: float = 45.0) -> None:
        self._http = http
        self._key = key
        self._stream_timeout = stream_timeout

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
            response = await self._http.request(
                "POST", _COMPLETIONS, headers=headers, body=orjson.dumps(body), read_timeout=self._stream_timeout
            )
        except ReadTimeout as exc:
            raise self._stuck() from exc
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
                        raise _stream_error(chunk["error"])
                    yield chunk
            raise LLMError(502, "the model stream ended before it was complete")
        except ReadTimeout as exc:
            raise self._stuck() from exc
        except HttpError as exc:
            raise LLMError(502, f"the llm-proxy stream broke: {exc}") from exc
        finally:
            response.close()

    def _stuck(self) -> LLMError:
        silence = f"{self._stream_timeout:g} s"
        return LLMError(504, f"the llm-proxy stopped answering (nothing, not even a heartbeat, for {silence})")


def _stream_error(error: Any) -> LLMError:
    """The error event the proxy ends a stream with, as the error its HTTP answer would have been."""
    if not isinstance(error, dict):
        return LLMError(502, "upstream error")
    status = _STREAM_ERROR_STATUS.get(str(error.get("type")), 502)
    return LLMError(status, str(error.get("message") or "upstream error"))


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
