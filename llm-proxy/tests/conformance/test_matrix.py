"""Every front door × every provider (OpenAI, Anthropic and Ollama wire formats from the fake upstream, and the
mock) × every case, streamed and not: the same answer must come out of every door, with tool arguments byte for
byte, the door's exact event order (checked in ``doors``), usage, and failures with the right status or event.
Where a door's API carries arguments as JSON objects (a whole Anthropic message; a ``tool_use`` sent back), there are no
bytes to keep: values and key order are compared, and the upstream gets them encoded once, compactly."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tests.conformance.doors import DOORS, History, Outcome
from tests.conformance.wire import (
    ESCAPED_ARGS,
    MODELS,
    PLAIN_ARGS,
    PROVIDERS,
    SIGNATURE,
    SIGNS_REASONING,
    Call,
    Script,
    expected_arguments,
    expected_signature,
    mock_directives,
    received,
    settings,
    upstream_reply,
)

STREAMED = pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
MATRIX = [
    pytest.mark.parametrize("provider", PROVIDERS),
    pytest.mark.parametrize("door", DOORS, ids=[door.name for door in DOORS]),
]


def matrix(test: Any) -> Any:
    for mark in MATRIX:
        test = mark(test)
    return test


async def run(
    door: Any,
    provider: str,
    script: Script,
    proxy_client: Any,
    upstream: Any,
    *,
    stream: bool,
    history: History | None = None,
) -> Outcome:
    if provider == "mock":
        prompt = mock_directives(script, round=2 if history and history.turn.calls else 1)
    else:
        prompt = "hello"
        upstream.play(upstream_reply(provider, script))
    body = door.request(MODELS[provider], prompt, history, stream=stream)
    async with proxy_client(**settings(upstream.url)) as client:
        response = await client.post(door.path, json=body)
    return door.outcome(response.status_code, response.text, stream=stream)


def ordered(arguments: str) -> Any:
    """JSON arguments as a value that keeps key order (what survives a door that carries objects)."""
    return json.loads(arguments, object_pairs_hook=list)


def check_answer(outcome: Outcome, provider: str, script: Script) -> None:
    assert outcome.status == 200, outcome
    assert outcome.error is None
    assert outcome.text == script.text
    assert outcome.finish == script.finish
    if outcome.objects:
        assert [(c.name, ordered(c.arguments)) for c in outcome.calls] == [
            (c.name, ordered(c.arguments)) for c in script.calls
        ]
    else:
        assert [(c.name, c.arguments) for c in outcome.calls] == [
            (c.name, expected_arguments(provider, c.arguments)) for c in script.calls
        ]
    ids = [c.id for c in outcome.calls]
    assert all(ids)
    assert len(set(ids)) == len(ids)
    if provider != "mock":  # the mock makes its own ids
        assert ids == [c.id for c in script.calls]
    prompt, completion, cached = script.usage
    assert outcome.usage == (prompt, completion, cached if provider in ("openai", "anthropic") else 0)


@matrix
async def test_text(door, provider, proxy_client, upstream):
    script = Script(text='Hello, wörld ✓ "quoted" \\ back')
    check_answer(await run(door, provider, script, proxy_client, upstream, stream=False), provider, script)


@matrix
async def test_streamed_text(door, provider, proxy_client, upstream):
    script = Script(text="Streamed wörds arrive ✓ in pieces")
    outcome = await run(door, provider, script, proxy_client, upstream, stream=True)
    check_answer(outcome, provider, script)
    assert outcome.events  # the grammar was checked on a real event sequence


@matrix
@STREAMED
async def test_one_tool_call(door, provider, stream, proxy_client, upstream):
    script = Script(calls=[Call("call_one", "read_file", PLAIN_ARGS)])
    check_answer(await run(door, provider, script, proxy_client, upstream, stream=stream), provider, script)


@matrix
@STREAMED
async def test_parallel_tool_calls_with_escaped_and_non_ascii_arguments(door, provider, stream, proxy_client, upstream):
    script = Script(
        text="Two at once.",
        calls=[Call("call_a", "read_file", ESCAPED_ARGS), Call("call_b", "run", PLAIN_ARGS)],
    )
    check_answer(await run(door, provider, script, proxy_client, upstream, stream=stream), provider, script)


@matrix
@STREAMED
async def test_tool_result_round_trip(door, provider, stream, proxy_client, upstream):
    calls = [Call("call_a", "read_file", ESCAPED_ARGS), Call("call_b", "run", PLAIN_ARGS)]
    history = History(
        Script(text="Reading.", calls=calls), results=[("call_a", 'contents ✓ "q"'), ("call_b", "exit 1")]
    )
    answer = Script(text="Both done.")
    check_answer(
        await run(door, provider, answer, proxy_client, upstream, stream=stream, history=history), provider, answer
    )
    if provider == "mock":
        return  # the mock answered round 2: it saw the calls and their results
    seen = received(provider, upstream.requests[0])
    if provider == "openai" and door.sends_objects:  # encoded once by the proxy: compact, key order kept
        assert seen.calls == [(c.id, c.name, orjson.dumps(orjson.loads(c.arguments)).decode()) for c in calls]
    elif provider == "openai":
        assert seen.calls == [(c.id, c.name, c.arguments) for c in calls]  # byte for byte
    else:  # Anthropic and Ollama take arguments as objects
        assert [(n, orjson.loads(a)) for _, n, a in seen.calls] == [(c.name, orjson.loads(c.arguments)) for c in calls]
    refs = ["read_file", "run"] if provider == "ollama" else ["call_a", "call_b"]
    assert seen.results == [(refs[0], 'contents ✓ "q"'), (refs[1], "exit 1")]


@matrix
@STREAMED
async def test_reasoning_round_trip(door, provider, stream, proxy_client, upstream):
    script = Script(thinking='Let me think ✓ "twice"', text="Answer.")
    outcome = await run(door, provider, script, proxy_client, upstream, stream=stream)
    check_answer(outcome, provider, script)
    assert outcome.reasoning == script.thinking
    signature = expected_signature(provider, script)
    assert outcome.signatures == ([signature] if provider in SIGNS_REASONING else [])

    # The next turn sends the signed block back: a provider that signs gets it byte for byte.
    turn = Script(thinking=script.thinking, calls=[Call("call_r", "run", PLAIN_ARGS)])
    history = History(turn, signature=SIGNATURE if provider == "anthropic" else signature, results=[("call_r", "ok")])
    upstream.requests.clear()
    answer = Script(text="Next.")
    check_answer(
        await run(door, provider, answer, proxy_client, upstream, stream=stream, history=history), provider, answer
    )
    if provider == "anthropic":
        assert received(provider, upstream.requests[0]).signed_reasoning == [(script.thinking, SIGNATURE)]


@matrix
@STREAMED
@pytest.mark.parametrize(
    ("fault", "status", "code"), [("429", 429, "rate_limit_exceeded"), ("500", 502, "upstream_error")]
)
async def test_upstream_failure_before_the_first_byte(
    door, provider, stream, fault, status, code, proxy_client, upstream
):
    outcome = await run(door, provider, Script(text="never", fault=fault), proxy_client, upstream, stream=stream)
    assert (outcome.status, outcome.error) == (status, code)


@matrix
@STREAMED
async def test_upstream_failure_mid_stream(door, provider, stream, proxy_client, upstream):
    outcome = await run(
        door, provider, Script(text="half of this answer", fault="midstream"), proxy_client, upstream, stream=stream
    )
    # Streamed, the 200 is out: the failure is the stream's last event (its grammar checked); whole, a 502.
    assert (outcome.status, outcome.error) == ((200, "upstream_error") if stream else (502, "upstream_error"))
    assert outcome.finish is None


@matrix
@STREAMED
async def test_usage_with_cached_prompt_tokens(door, provider, stream, proxy_client, upstream):
    script = Script(text="cached", usage=(1200, 7, 1000))
    check_answer(await run(door, provider, script, proxy_client, upstream, stream=stream), provider, script)
