"""T10 — tool results re-sent, late, out of order, or for unknown call ids.

The llm-proxy's mock answers ``[[tool:…]]`` with a tool call and ``[[2:text:…]]`` after the result, so each session
is: tool call(s) → results sent in one of four ways → the continuation. Ways: the same result re-sent 1-3 times at
once; the result sent late on a new socket after a hard disconnect, then again after the continuation; two calls
answered in reverse order with a duplicate; a result for a call id that was never issued.

Pass mark: the history holds exactly one tool result per issued call and none for unknown ids; exactly one
continuation per round; an unknown id gets an ``error`` frame that says so; nothing outstanding at the end.
Short: 12 sessions; long: 100.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
from turns import ResumingClient, create_session

from harness import MissingFeature, System, Tally, battery, first_traceback, running_system, scan_logs


async def rest(system: System, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=15) as client:
        answer = await client.get(f"{system.gateway.url}/api/v1/sessions/{path}")
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


async def frames_for(client: ResumingClient, seconds: float) -> list[dict[str, Any]]:
    frames = []
    while (frame := await client.recv(seconds)) is not None:
        frames.append(frame)
    return frames


async def until_done(client: ResumingClient, timeout: float = 20) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not frames or frames[-1].get("type") != "done":
            frame = await client.recv(timeout)
            if frame is not None:
                frames.append(frame)
    return frames


def result(call: dict[str, Any], n: int) -> dict[str, Any]:
    return {"type": "tool_result", "call_id": call["call_id"], "tool_name": call["tool_name"], "result": {"n": n}}


Frames = list[dict[str, Any]]


async def resent(client: ResumingClient, calls: Frames, n: int, rng: random.Random, tally: Tally) -> Frames:
    for _ in range(1 + rng.randint(1, 3)):
        await client.send(result(calls[0], n))
    return await frames_for(client, 2.0)


async def late(client: ResumingClient, calls: Frames, n: int, rng: random.Random, tally: Tally) -> Frames:
    await client.cut()
    await asyncio.sleep(0.5)
    await client.connect()
    await client.send(result(calls[0], n))
    seen = await frames_for(client, 2.0)
    await client.send(result(calls[0], n))
    return seen + await frames_for(client, 1.0)


async def two_calls(client: ResumingClient, calls: Frames, n: int, rng: random.Random, tally: Tally) -> Frames:
    # Calls of one answer may be handed out together or one after another: answer each batch in reverse order,
    # every result twice, until no new call comes. ``calls`` grows with the later ones.
    seen: Frames = []
    batch = list(calls)
    while batch:
        for call in [*reversed(batch), *batch]:
            await client.send(result(call, n))
        frames = await frames_for(client, 2.0)
        seen += frames
        batch = [f for f in frames if f.get("type") == "tool_call"]
        calls += batch
    return seen


async def unknown(client: ResumingClient, calls: Frames, n: int, rng: random.Random, tally: Tally) -> Frames:
    stray = {"type": "tool_result", "call_id": f"call_never_issued_{n}", "tool_name": "read_file", "result": {}}
    await client.send(stray)
    answer = await frames_for(client, 1.0)
    said = [f for f in answer if f.get("type") == "error" and "call" in str(f.get("content", "")).lower()]
    tally.add("unknown_id_clear_error" if said else "unknown_id_no_clear_error")
    if not said:
        tally.note(f"unknown call id answered with {[(f.get('type'), f.get('content')) for f in answer]}")
    await client.send(result(calls[0], n))
    return answer + await frames_for(client, 2.0)


WAYS = {"resent": resent, "late": late, "two_calls": two_calls, "unknown": unknown}


async def one_session(system: System, tally: Tally, n: int, way: str, rng: random.Random) -> tuple[str, list[str]]:
    """Run one session in ``way``; returns the session id and the call ids issued."""
    session_id = await create_session(system)
    client = ResumingClient(lambda sid: system.ws_url(sid, "?protocol=2"), session_id, tally)
    await client.connect(resume=False)
    tools = '[[tool:read_file {"path": "a.txt"}]]'
    if way == "two_calls":
        tools += ' [[tool:list_files {"path": "."}]]'
    await client.send({"type": "user_message", "content": f"session {n} {tools} [[2:text:finished {n}]]"})
    first = await until_done(client)
    calls = [f for f in first if f.get("type") == "tool_call"]
    if not calls:
        raise MissingFeature(f"tool calls from the agent loop (got {[f.get('type') for f in first]})")
    seen = await WAYS[way](client, calls, n, rng, tally)
    continuations = [f for f in seen if f.get("type") == "assistant_message" and f.get("is_final")]
    tally.add("rounds")
    tally.add("continuations_not_1", int(len(continuations) != 1))
    if len(continuations) != 1:
        tally.note(f"{way} #{n}: {len(continuations)} continuations; frames {[f.get('type') for f in seen]}")
    await client.close()
    return session_id, [c["call_id"] for c in calls]


async def judge(system: System, tally: Tally, session_id: str, call_ids: list[str], way: str) -> None:
    messages = (await rest(system, f"{session_id}/history"))["messages"]
    results = [m.get("tool_call_id") for m in messages if m.get("role") == "tool"]
    for call_id in call_ids:
        count = results.count(call_id)
        tally.add("tool_calls_issued")
        tally.add("tool_calls_with_exactly_one_result" if count == 1 else "tool_calls_without_exactly_one_result")
        if count != 1:
            tally.note(f"{way}: call {call_id} has {count} results in history")
    orphans = [r for r in results if r not in call_ids]
    tally.add("orphan_tool_results", len(orphans))
    outstanding = (await rest(system, f"{session_id}/outstanding-tool-calls"))["tool_calls"]
    tally.add("outstanding_at_end", len(outstanding))
    if orphans or outstanding:
        tally.note(f"{way}: orphans {orphans}, outstanding {json.dumps(outstanding)[:200]}")


async def tool_results(tally: Tally) -> None:
    rng = random.Random(10)
    sessions = 100 if tally.long else 12
    ways = tuple(WAYS)
    with running_system(tally) as system:
        gate = asyncio.Semaphore(8)

        async def run(n: int) -> None:
            way = ways[n % len(ways)]
            async with gate:
                session_id, call_ids = await one_session(system, tally, n, way, random.Random(rng.random()))
            await judge(system, tally, session_id, call_ids, way)

        await asyncio.gather(*(run(n) for n in range(sessions)))
        logs = system.logs()
    scan_logs(tally, logs)
    if tally.get("tracebacks_in_logs"):
        tally.note(first_traceback(logs))
    tally.mark(
        "exactly one tool result per tool call in history", not tally.get("tool_calls_without_exactly_one_result")
    )
    tally.mark("no result for an unknown id in history", tally.get("orphan_tool_results") == 0)
    tally.mark("a clear error for unknown ids", not tally.get("unknown_id_no_clear_error"))
    tally.mark("exactly one continuation per round", tally.get("continuations_not_1") == 0)
    tally.mark("nothing outstanding at the end", tally.get("outstanding_at_end") == 0)
    tally.mark("0 tracebacks in the logs", tally.get("tracebacks_in_logs") == 0)


main = battery("t10_tool_results", tool_results, __doc__ or "")

if __name__ == "__main__":
    main()
