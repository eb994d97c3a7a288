"""What one ACP ``session/update`` costs to build and encode: plain dicts + orjson (what the gateway does) against
the official SDK's pydantic models (``acp.helpers`` + ``model_dump(by_alias=True)``, then orjson).

    .venv/bin/python gateway/bench/acp_encode_bench.py [--count 200000] [--repeat 5]

Prints the best of ``--repeat`` runs, in µs per update, for a token delta (the hot path: one per token) and a
``tool_call`` start, and the ratio. CPU time (``time.process_time``), so a busy machine moves it less.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import orjson
from acp import helpers, schema

SESSION = "6f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
DELTA_TEXT = " world"


def dict_delta() -> bytes:
    update = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": DELTA_TEXT}}
    return orjson.dumps(
        {"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": SESSION, "update": update}}
    )


def sdk_delta() -> bytes:
    notification = helpers.session_notification(SESSION, helpers.update_agent_message_text(DELTA_TEXT))
    params = notification.model_dump(mode="json", by_alias=True, exclude_none=True)
    return orjson.dumps({"jsonrpc": "2.0", "method": "session/update", "params": params})


def dict_tool_call() -> bytes:
    update = {
        "sessionUpdate": "tool_call",
        "toolCallId": "call_1",
        "title": "Read lib/main.dart",
        "kind": "read",
        "status": "pending",
        "locations": [{"path": "/home/ada/p/lib/main.dart"}],
        "rawInput": {"path": "lib/main.dart"},
    }
    return orjson.dumps(
        {"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": SESSION, "update": update}}
    )


def sdk_tool_call() -> bytes:
    start = helpers.start_tool_call(
        "call_1",
        "Read lib/main.dart",
        kind="read",
        status="pending",
        locations=[schema.ToolCallLocation(path="/home/ada/p/lib/main.dart")],
        raw_input={"path": "lib/main.dart"},
    )
    params = helpers.session_notification(SESSION, start).model_dump(mode="json", by_alias=True, exclude_none=True)
    return orjson.dumps({"jsonrpc": "2.0", "method": "session/update", "params": params})


def per_call_us(build: Callable[[], bytes], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(count):
            build()
        best = min(best, (time.process_time() - started) / count * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    assert orjson.loads(dict_delta()) == orjson.loads(sdk_delta()), "the two encodings must say the same"
    for label, plain, sdk in (
        ("agent_message_chunk", dict_delta, sdk_delta),
        ("tool_call", dict_tool_call, sdk_tool_call),
    ):
        fast, slow = per_call_us(plain, args.count, args.repeat), per_call_us(sdk, args.count, args.repeat)
        print(f"{label:<20} dicts+orjson {fast:6.2f} µs   SDK models {slow:6.2f} µs   = {slow / fast:5.1f}x")


if __name__ == "__main__":
    main()
