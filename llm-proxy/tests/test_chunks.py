"""OpenAI chunk encoding: the spliced text bytes equal the dict encoding; folding tool calls; the error ending."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from llm_proxy.chunks import CompletionIdentity, fold, sse_events
from llm_proxy.errors import ProxyError
from llm_proxy.providers.base import Batch, Delta, Finish, TextDelta, ToolCallDelta, Usage


async def replay(*deltas: Delta, error: ProxyError | None = None, size: int = 1) -> AsyncIterator[Batch]:
    """The deltas in batches of ``size``."""
    for start in range(0, len(deltas), size):
        yield list(deltas[start : start + size])
    if error is not None:
        raise error


def test_a_spliced_text_event_is_the_same_json_as_the_dict_encoding():
    identity = CompletionIdentity('model "quoted" ü')
    text = 'a "quote" \\ \n ü 🎉 \u2028'
    spliced = identity.text_event(text)
    built = identity.event([{"index": 0, "delta": {"content": text}, "finish_reason": None}])
    assert orjson.loads(spliced[6:]) == orjson.loads(built[6:])
    assert spliced.endswith(b"\n\n")


async def test_fold_joins_tool_call_pieces_per_index():
    deltas = replay(
        TextDelta("Hi"),
        ToolCallDelta(0, "c0", "read", ""),
        ToolCallDelta(1, "c1", "ls", '{"a"'),
        ToolCallDelta(0, None, None, '{"p": "é'),
        ToolCallDelta(1, None, None, ": 1}"),
        ToolCallDelta(0, None, None, '"}'),
        Finish("tool_calls"),
        Usage(3, 4),
    )
    body = await fold(CompletionIdentity("m"), deltas)
    message = body["choices"][0]["message"]
    assert message["content"] == "Hi"
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]] == [
        ("c0", "read", '{"p": "é"}'),
        ("c1", "ls", '{"a": 1}'),
    ]
    assert body["usage"]["total_tokens"] == 7


async def test_a_tool_only_answer_has_null_content():
    body = await fold(CompletionIdentity("m"), replay(ToolCallDelta(0, "c", "f", "{}"), Finish("tool_calls")))
    assert body["choices"][0]["message"]["content"] is None


async def test_a_failure_ends_the_stream_with_one_error_event_and_no_done():
    error = ProxyError("connection", "reset")
    events = [
        e async for e in sse_events(CompletionIdentity("m"), replay(TextDelta("a"), error=error), include_usage=True)
    ]
    assert orjson.loads(events[-1][6:]) == {
        "error": {"message": "reset", "type": "api_error", "code": "upstream_connection_error", "param": None}
    }
    assert all(b"[DONE]" not in e for e in events)


async def test_a_batch_leaves_as_one_piece_with_one_event_per_delta():
    deltas = (TextDelta("a"), ToolCallDelta(0, "c", "f", '{"x"'), ToolCallDelta(0, None, None, ": 1}"), Finish("stop"))
    pieces = [p async for p in sse_events(CompletionIdentity("m"), replay(*deltas, size=4), include_usage=False)]
    assert len(pieces) == 2  # the role chunk with the first batch, then [DONE]
    assert pieces[0].startswith(b'data: {"id":')
    assert b'"role":"assistant"' in pieces[0].split(b"\n\n")[0]
    assert pieces[0].count(b"data: ") == 5
    assert pieces[-1] == b"data: [DONE]\n\n"


async def test_the_role_chunk_still_comes_first_when_nothing_else_does():
    ended = [p async for p in sse_events(CompletionIdentity("m"), replay(), include_usage=False)]
    error = ProxyError("connection", "reset")
    failed = [p async for p in sse_events(CompletionIdentity("m"), replay(error=error), include_usage=False)]
    for pieces in (ended, failed):
        events = b"".join(pieces).split(b"\n\n")
        assert b'"role":"assistant"' in events[0]
    assert ended[-1].endswith(b"data: [DONE]\n\n")
    assert failed[-1].endswith(b"\n\n")
    assert b'"error"' in failed[-1]


async def test_folding_does_not_depend_on_how_deltas_were_batched():
    deltas = (
        TextDelta("a"),
        TextDelta("b"),
        ToolCallDelta(0, "c", "f", "{"),
        ToolCallDelta(0, None, None, "}"),
        Finish("tool_calls"),
        Usage(1, 2),
    )
    one = await fold(CompletionIdentity("m"), replay(*deltas, size=1))
    many = await fold(CompletionIdentity("m"), replay(*deltas, size=4))
    assert one["choices"] == many["choices"]
    assert one["usage"] == many["usage"]
