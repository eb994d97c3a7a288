"""T6 — malformed WebSocket input: bytes, invalid UTF-8, frames over 1 MiB, non-JSON, wrong schema, unknown types and
floods, while sentinel sessions run turns next to them.

Pass mark: each bad frame rejected with an ``error`` frame (the socket stays usable: a ``ping`` after the bad frames
gets its ``pong``) or the right close code (binary 1003, invalid UTF-8 1007, flood 1008, too big 1009);
0 tracebacks in the logs; every sentinel turn completes with its exact text. Short: ~600 frames; long: 10,000.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
from collections.abc import Callable
from typing import Any

import websockets

from harness import Tally, battery, connect, first_traceback, is_done, running_system, scan_logs

SOFT_PER_SOCKET = 40  # below the gateway's burst of 60, so the rate limit is not what answers


def wrong_schema(rng: random.Random) -> str:
    frames: list[Any] = [
        {"type": "user_message"},
        {"type": "user_message", "content": 123},
        {"type": "user_message", "content": ""},
        {"type": "user_message", "content": ["a"]},
        {"type": "user_message", "content": "x", "client_message_id": 5},
        {"type": "tool_result", "call_id": "c1"},
        {"type": "tool_result", "call_id": 5, "result": {}},
        {"type": "tool_result", "call_id": "c1", "result": "not an object"},
        {"type": "hitl_decision", "call_id": "c1", "decision": "maybe"},
        {"type": "plan_decision", "plan_id": "p"},
        {"type": "switch_agent"},
        {"type": "resume", "last_seq": -1},
        {"type": "resume", "last_seq": "5"},
        {"type": "resume"},
        {"type": "hello", "protocol": "two"},
        {"type": 123},
        {"type": None},
        {"no": "type"},
        [],
        [{"type": "ping"}],
        "a string",
        42,
        None,
        True,
    ]
    return json.dumps(rng.choice(frames))


def unknown_type(rng: random.Random) -> str:
    name = rng.choice(["x", "USER_MESSAGE", "user_message ", "ping2", "", "💥", "a" * 500]) + str(rng.randrange(99))
    return json.dumps({"type": name, "content": "hi"})


def non_json(rng: random.Random) -> str:
    texts = [
        "{",
        "}",
        "hello",
        "{'type': 'ping'}",
        '{"type": "ping",}',
        '{"type": "user_message", "content": "x"',
        "\x00\x01\x02",
        "NaN",
        "[" * 5000 + "]" * 5000,
        "\ud7ff" + "é" * 10,
        "null null",
        " ",
        "1e999999",
    ]
    return rng.choice(texts)


SOFT_KINDS: dict[str, Callable[[random.Random], str]] = {
    "wrong_schema": wrong_schema,
    "unknown_type": unknown_type,
    "non_json": non_json,
}


async def soft_socket(url: str, kind: str, count: int, rng: random.Random, tally: Tally) -> None:
    """``count`` bad frames of one kind on one socket: each must get an error frame; then ping → pong."""
    async with connect(url) as ws:
        for _ in range(count):
            await ws.send_text(SOFT_KINDS[kind](rng))
            tally.add("frames_sent")
            tally.add(f"sent {kind}")
            reply = await ws.recv(10)
            if reply.get("type") == "error" and "seq" not in reply and reply.get("content"):
                tally.add("rejected_with_error_frame")
            else:
                tally.add("wrong_reply")
                tally.note(f"{kind}: unexpected reply {str(reply)[:200]}")
        await ws.send({"type": "ping", "nonce": "after"})
        reply = await ws.recv(10)
        tally.add("socket_usable_after_bad_frames" if reply.get("type") == "pong" else "socket_broken_after_bad_frames")


async def hard_socket(url: str, kind: str, tally: Tally) -> None:
    """One frame that must end the socket with its close code."""
    expected = {"binary": 1003, "invalid_utf8": 1007, "too_big": 1009, "flood": 1008}[kind]
    code: int | None = None
    try:
        async with websockets.connect(url, max_size=None, open_timeout=10) as ws:
            if kind == "binary":
                await ws.send(b'{"type": "ping"}')
                tally.add("frames_sent")
            elif kind == "invalid_utf8":
                await ws.send(b'{"type": "ping", "x": "\xff\xfe"}', text=True)
                tally.add("frames_sent")
            elif kind == "too_big":
                await ws.send(json.dumps({"type": "user_message", "content": "x" * (1024 * 1024 + 10)}))
                tally.add("frames_sent")
            else:
                for _ in range(200):
                    await ws.send('{"type": "ping"}')
                    tally.add("frames_sent")
            with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
            code = ws.close_code
    except (websockets.ConnectionClosed, OSError) as exc:
        tally.note(f"{kind}: {type(exc).__name__}: {exc}")
    tally.add(f"sent {kind}")
    if code == expected:
        tally.add("rejected_with_close_code")
    else:
        tally.add("wrong_close_code")
        tally.note(f"{kind}: closed with {code}, expected {expected}")


async def sentinel(url: str, stop: asyncio.Event, tally: Tally) -> None:
    """A well-behaved session next to the attack: every turn must come back whole."""
    n = 0
    async with connect(url) as ws:
        while not stop.is_set():
            words = [f"s{n}w{i}" for i in range(12)]
            await ws.send({"type": "user_message", "content": " ".join(words)})
            frames = await ws.until(is_done, 30)
            finals = [f for f in frames if f.get("type") == "assistant_message" and f.get("is_final")]
            ok = len(finals) == 1 and finals[0].get("content") == " ".join(words)
            tally.add("sentinel_turns_ok" if ok else "sentinel_turns_bad")
            n += 1


def plan(rng: random.Random, total: int, long: bool) -> list[tuple[str, str]]:
    """Sockets to open: ``("hard", kind)`` closes with a code, ``("soft", kind)`` sends SOFT_PER_SOCKET bad frames."""
    hard_each = 40 if long else 6
    jobs = [("hard", kind) for kind in ("binary", "invalid_utf8", "too_big", "flood") for _ in range(hard_each)]
    soft_total = total - hard_each * (3 + 200)  # a flood socket sends 200 frames
    per_kind = max(5, math.ceil(soft_total / SOFT_PER_SOCKET / len(SOFT_KINDS)))
    jobs += [("soft", kind) for kind in SOFT_KINDS for _ in range(per_kind)]
    rng.shuffle(jobs)
    return jobs


async def attack(url: str, jobs: list[tuple[str, str]], rng: random.Random, tally: Tally) -> None:
    gate = asyncio.Semaphore(16)

    async def run(job: tuple[str, str]) -> None:
        async with gate:
            try:
                if job[0] == "hard":
                    await hard_socket(url, job[1], tally)
                else:
                    await soft_socket(url, job[1], SOFT_PER_SOCKET, random.Random(rng.random()), tally)
            except Exception as exc:
                tally.add("client_errors")
                tally.note(f"{job}: {type(exc).__name__}: {exc}")

    await asyncio.gather(*(run(job) for job in jobs))


async def malformed(tally: Tally) -> None:
    rng = random.Random(6)
    total = 10_000 if tally.long else 600
    with running_system(tally) as system:
        stop = asyncio.Event()
        sentinels = [
            asyncio.create_task(sentinel(system.ws_url(f"new_sentinel{i}", "?protocol=2"), stop, tally))
            for i in range(3)
        ]
        await attack(system.ws_url("malformed", "?protocol=2"), plan(rng, total, tally.long), rng, tally)
        stop.set()
        for task in sentinels:
            try:
                await task
            except Exception as exc:
                tally.add("sentinel_failures")
                tally.note(f"sentinel: {type(exc).__name__}: {exc}")
        logs = system.logs()
    scan_logs(tally, logs)
    if tally.get("tracebacks_in_logs"):
        tally.note(first_traceback(logs))
    judge(tally, total)


def judge(tally: Tally, total: int) -> None:
    tally.mark(f"frames sent ≥ {total}", tally.get("frames_sent") >= total)
    tally.mark(
        "every soft bad frame got an error frame", tally.get("wrong_reply") == 0 and tally.get("client_errors") == 0
    )
    tally.mark("sockets stay usable after bad frames", tally.get("socket_broken_after_bad_frames") == 0)
    tally.mark("binary/UTF-8/too-big/flood closed with 1003/1007/1009/1008", tally.get("wrong_close_code") == 0)
    tally.mark("0 tracebacks in the logs", tally.get("tracebacks_in_logs") == 0)
    tally.mark(
        "sentinel sessions unaffected",
        tally.get("sentinel_turns_ok") > 0
        and tally.get("sentinel_turns_bad") == 0
        and not tally.get("sentinel_failures"),
    )


main = battery("t06_malformed_input", malformed, __doc__ or "")

if __name__ == "__main__":
    main()
