"""T9 — idempotent submit: the same ``client_message_id`` sent 1-5 times (at once on one socket, after a hard
disconnect on a new socket, and after the turn ended), plus the same id with a different text.

Pass mark: the session's history holds exactly one user message and one assistant reply per id, and the number of
turns run (``done`` frames seen for that id's text) is one; the same id with other content is refused with an error
(422 ``idempotency_mismatch``) and adds nothing. Short: 6 ids; long: 100.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
from turns import ResumingClient, create_session, message

from harness import MissingFeature, System, Tally, battery, first_traceback, running_system, scan_logs


async def history(system: System, session_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=15) as client:
        answer = await client.get(f"{system.gateway.url}/api/v1/sessions/{session_id}/history")
    answer.raise_for_status()
    messages: list[dict[str, Any]] = answer.json()["messages"]
    return messages


async def collect(client: ResumingClient, seconds: float) -> list[dict[str, Any]]:
    frames = []
    while (frame := await client.recv(seconds)) is not None:
        frames.append(frame)
    return frames


async def submit(
    system: System, tally: Tally, n: int, rng: random.Random
) -> tuple[str, list[str], list[dict[str, Any]]]:
    """Send one id ``retries`` times in one of three ways; returns the session, the texts and every frame seen."""
    session_id = await create_session(system)
    client = ResumingClient(lambda sid: system.ws_url(sid, "?protocol=2"), session_id, tally)
    await client.connect(resume=False)
    text, _ = message(f"m{n}", 8, delay_ms=20)
    frame = {"type": "user_message", "content": text, "client_message_id": f"cmid-{n}"}
    retries = rng.randint(1, 5)
    way = ("burst", "reconnect", "after_end")[n % 3]
    tally.add(f"submits {way}")
    tally.add("retries", retries)
    frames: list[dict[str, Any]] = []
    if way == "burst":
        for _ in range(1 + retries):
            await client.send(frame)
    elif way == "reconnect":
        await client.send(frame)
        for _ in range(retries):
            await asyncio.sleep(rng.uniform(0, 0.1))
            await client.cut()
            await client.connect()
            await client.send(frame)
    else:
        await client.send(frame)
        frames += await collect(client, 1.5)
        for _ in range(retries):
            await client.send(frame)
    frames += await collect(client, 1.5)
    await client.send({**frame, "content": text + " changed"})
    mismatch = await collect(client, 1.0)
    refused = [f for f in mismatch if f.get("type") == "error"]
    tally.add("mismatch_refused" if refused else "mismatch_accepted")
    if not refused:
        tally.note(f"cmid-{n}: the same id with other content was not refused: {[f.get('type') for f in mismatch]}")
    await client.close()
    return session_id, [text, text + " changed"], frames


def judge(
    tally: Tally, n: int, text: str, changed: str, frames: list[dict[str, Any]], messages: list[dict[str, Any]]
) -> None:
    users = [m for m in messages if m.get("role") == "user" and m.get("content") == text]
    changed_users = [m for m in messages if m.get("role") == "user" and m.get("content") == changed]
    replies = [m for m in messages if m.get("role") == "assistant"]
    dones = [f for f in frames if f.get("type") == "done"]
    tally.add("user_messages_per_id_not_1", int(len(users) != 1))
    tally.add("replies_per_id_not_1", int(len(replies) != 1))
    tally.add("turns_per_id_not_1", int(len(dones) > 1))
    tally.add("mismatched_content_stored", len(changed_users))
    if len(users) != 1 or len(replies) != 1 or len(dones) > 1:
        tally.note(f"cmid-{n}: {len(users)} user messages, {len(replies)} replies, {len(dones)} done frames")


async def idempotent_submit(tally: Tally) -> None:
    rng = random.Random(9)
    ids = 100 if tally.long else 6
    with running_system(tally) as system:
        gate = asyncio.Semaphore(10)

        async def one(n: int) -> None:
            async with gate:
                session_id, (text, changed), frames = await submit(system, tally, n, random.Random(rng.random()))
            judge(tally, n, text, changed, frames, await history(system, session_id))

        await asyncio.gather(*(one(n) for n in range(ids)))
        logs = system.logs()
    if tally.get("user_messages_per_id_not_1") == ids:
        raise MissingFeature("client_message_id idempotency (every retried id created another user message)")
    scan_logs(tally, logs)
    if tally.get("tracebacks_in_logs"):
        tally.note(first_traceback(logs))
    tally.mark("exactly one user message per id", tally.get("user_messages_per_id_not_1") == 0)
    tally.mark(
        "exactly one turn (reply, done) per id",
        not tally.get("replies_per_id_not_1") and not tally.get("turns_per_id_not_1"),
    )
    tally.mark(
        "same id, other content: refused, not stored",
        not tally.get("mismatch_accepted") and not tally.get("mismatched_content_stored"),
    )
    tally.mark("0 tracebacks in the logs", tally.get("tracebacks_in_logs") == 0)


main = battery("t09_idempotent_submit", idempotent_submit, __doc__ or "")

if __name__ == "__main__":
    main()
