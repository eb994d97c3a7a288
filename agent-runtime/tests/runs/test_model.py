"""The model call: tool-call deltas folded by index, retries only before the first token, the circuit breaker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_runtime.runs.model import CircuitBreaker, ModelCaller, ModelFailed


class FakeStreams:
    """Answers each call with the next scripted list of chunks; an Exception in a list is raised there."""

    def __init__(self, *scripts: list[Any]) -> None:
        self.scripts = list(scripts)
        self.calls = 0

    async def stream_chat(self, **_: Any) -> AsyncIterator[dict[str, Any]]:
        script = self.scripts[min(self.calls, len(self.scripts) - 1)]
        self.calls += 1
        for item in script:
            if isinstance(item, Exception):
                raise item
            yield item


class Upstream(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}")
        self.status = status


def text(token: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": token}}]}


def call(index: int, **fields: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, **fields}]}}]}


async def reply(caller: ModelCaller) -> tuple[Any, list[str]]:
    tokens: list[str] = []

    async def relay(token: str) -> None:
        tokens.append(token)

    result = await caller.reply(model="m", messages=[], tools=None, session_id="s", on_token=relay)
    return result, tokens


async def test_tool_call_deltas_are_folded_by_index_with_the_text_before_them() -> None:
    streams = FakeStreams(
        [
            text("Reading"),
            call(0, id="a", function={"name": "read_file", "arguments": '{"pa'}),
            call(1, id="b", function={"name": "list_files", "arguments": ""}),
            call(0, function={"arguments": 'th": "é"}'}),
            call(1, function={"arguments": '{"path": "."}'}),
            {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}},
        ]
    )

    result, tokens = await reply(ModelCaller(streams))

    assert tokens == ["Reading"]
    assert result.text == "Reading"
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("a", "read_file", '{"path": "é"}'),
        ("b", "list_files", '{"path": "."}'),
    ]
    assert result.usage == {"prompt_tokens": 5, "completion_tokens": 7}


async def test_failures_before_the_first_token_are_retried() -> None:
    streams = FakeStreams([Upstream(503)], [Upstream(0)], [text("ok")])

    result, _ = await reply(ModelCaller(streams, retries=2, backoff=0))

    assert (result.text, streams.calls) == ("ok", 3)


async def test_a_client_error_is_not_retried() -> None:
    streams = FakeStreams([Upstream(400)], [text("never")])

    with pytest.raises(ModelFailed) as caught:
        await reply(ModelCaller(streams, retries=2, backoff=0))

    assert (caught.value.code, streams.calls) == ("llm_error", 1)


async def test_a_failure_after_the_first_token_is_not_retried() -> None:
    streams = FakeStreams([text("half"), Upstream(502)], [text("again")])

    with pytest.raises(ModelFailed) as caught:
        await reply(ModelCaller(streams, retries=2, backoff=0))

    assert (caught.value.code, streams.calls) == ("llm_stream_failed", 1)


async def test_the_breaker_opens_after_repeated_failures_and_half_opens_after_the_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown=10, clock=lambda: now[0])
    streams = FakeStreams([Upstream(0)], [Upstream(0)], [text("back")])
    caller = ModelCaller(streams, retries=0, backoff=0, breaker=breaker)
    for _ in range(2):
        with pytest.raises(ModelFailed):
            await reply(caller)

    with pytest.raises(ModelFailed):
        await reply(caller)
    calls_while_open = streams.calls
    now[0] = 11
    result, _ = await reply(caller)

    assert calls_while_open == 2
    assert result.text == "back"


async def test_refusals_of_the_request_do_not_open_the_breaker() -> None:
    """A misconfigured model name (404) fails every turn, but the service is up: the next good call must go out."""
    breaker = CircuitBreaker(threshold=2, cooldown=60, clock=lambda: 0.0)
    streams = FakeStreams([Upstream(404)], [Upstream(400)], [Upstream(404)], [text("fixed")])
    caller = ModelCaller(streams, retries=0, backoff=0, breaker=breaker)
    for _ in range(3):
        with pytest.raises(ModelFailed):
            await reply(caller)

    result, _ = await reply(caller)

    assert (result.text, streams.calls) == ("fixed", 4)


async def test_a_timeout_is_not_sent_again_but_counts_against_the_breaker() -> None:
    """504: the proxy waited out the model's first-byte limit, or stopped answering; a resend would wait again."""
    breaker = CircuitBreaker(threshold=1, cooldown=60, clock=lambda: 0.0)
    streams = FakeStreams([Upstream(504)], [text("never")])
    caller = ModelCaller(streams, retries=2, backoff=0, breaker=breaker)

    with pytest.raises(ModelFailed) as caught:
        await reply(caller)

    assert (caught.value.code, streams.calls) == ("llm_error", 1)
    assert not breaker.allows()
