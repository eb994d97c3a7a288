"""The front doors' own CPU per request, in process: parse the body, build the neutral request, estimate the prompt,
and render one streamed answer of ``--tokens`` text deltas (plus finish and usage) in the door's events — everything
a door adds on top of the dispatcher, the provider and the socket, which it shares with the others.

    .venv/bin/python llm-proxy/benchmarks/door_encoding.py [--tokens 64] [--requests 3000]

Prints µs of CPU (``time.process_time``) per request and per token for each door, interleaved over three rounds
(the median is printed). The end-to-end side by side with LiteLLM is ``scripts/bench/doors.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncGenerator, Callable

import orjson

from llm_proxy.chunks import CompletionIdentity, sse_events
from llm_proxy.doors.messages_events import MessageWriter
from llm_proxy.doors.messages_request import neutral_request, parse_messages_request
from llm_proxy.doors.responses_events import ResponseWriter, envelope, new_id
from llm_proxy.doors.responses_request import chat_request, parse_responses_request
from llm_proxy.endpoint import parse_request
from llm_proxy.providers.base import Batch, Finish, TextDelta, Usage
from llm_proxy.tokens import estimate_prompt_tokens

PROMPT = "Summarise the file and list its functions. " * 5
MODEL = "openai/fake-model"


def answer(tokens: int) -> list[Batch]:
    """One batch per token, as a slow upstream delivers them (the fake's token text)."""
    return [[TextDelta(f"t{i}@1234567890123456789 ")] for i in range(tokens)] + [[Finish("stop")], [Usage(60, tokens)]]


def chat_door(batches: list[Batch]) -> Callable[[], object]:
    raw = orjson.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    loop = asyncio.new_event_loop()

    async def source() -> AsyncGenerator[Batch, None]:
        for batch in batches:
            yield batch

    async def render() -> list[bytes]:
        return [chunk async for chunk in sse_events(CompletionIdentity(MODEL), source(), include_usage=True)]

    def once() -> object:
        estimate_prompt_tokens(parse_request(raw))
        return loop.run_until_complete(render())

    return once


def messages_door(batches: list[Batch]) -> Callable[[], object]:
    raw = orjson.dumps(
        {"model": MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    )

    def once() -> object:
        prompt_tokens = estimate_prompt_tokens(neutral_request(parse_messages_request(raw)))
        writer = MessageWriter(MODEL, prompt_tokens, stream=True)
        out = [writer.start(), *(writer.feed(batch) for batch in batches), writer.finish()[0]]
        return b"".join(out)

    return once


def responses_door(batches: list[Batch]) -> Callable[[], object]:
    raw = orjson.dumps({"model": MODEL, "input": PROMPT, "stream": True, "store": False})

    def once() -> object:
        body = parse_responses_request(raw)
        chat, _ = chat_request(body, [], ignore_unsupported_tools=False)
        estimate_prompt_tokens(chat)
        writer = ResponseWriter(envelope(new_id("resp"), MODEL, body), stream=True)
        out = [writer.start(), *(writer.feed(batch) for batch in batches), writer.finish()[0]]
        return b"".join(out)

    return once


def cpu_per_request(once: Callable[[], object], requests: int) -> float:
    for _ in range(min(200, requests)):
        once()
    started = time.process_time()
    for _ in range(requests):
        once()
    return (time.process_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    batches = answer(args.tokens)
    doors = {"chat": chat_door(batches), "messages": messages_door(batches), "responses": responses_door(batches)}
    rounds: dict[str, list[float]] = {name: [] for name in doors}
    for _ in range(3):
        for name, once in doors.items():
            rounds[name].append(cpu_per_request(once, args.requests))
    print(f"{args.tokens} tokens per request, {args.requests} requests per round, median of 3 rounds")
    for name, figures in rounds.items():
        per_request = statistics.median(figures)
        print(f"{name:10} {per_request:8.1f} µs/request  {per_request / args.tokens:6.2f} µs/token")


if __name__ == "__main__":
    main()
