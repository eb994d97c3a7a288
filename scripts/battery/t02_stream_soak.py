"""T2 — stream soak: v2 WebSocket sessions streaming turns at ~50 tokens/s while the client hard-disconnects 1-3 times
per turn at random moments and resumes with its last ``seq``.

Pass mark: 0 lost, 0 duplicated, 0 reordered tokens (every token delta names its position); every turn has exactly
one final message with the exact words and one ``done``; afterwards 0 sockets left open at the gateway (its gauge
and its established connections) — no leaked tasks or sockets. Short: 6 sessions for ~15 s; long: 50 sessions for
10 minutes.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from pathlib import Path

import httpx
from turns import Ledger, ResumingClient, create_session, message

from harness import System, Tally, battery, first_traceback, running_system, scan_logs

TOKEN_INTERVAL_MS = 20  # ~50 tokens/s


async def one_turn(client: ResumingClient, rng: random.Random, tag: str, tally: Tally) -> None:
    count = rng.randint(15, 60)
    text, words = message(tag, count, delay_ms=TOKEN_INTERVAL_MS)
    ledger = Ledger(words)
    duration = count * TOKEN_INTERVAL_MS / 1000
    cuts = sorted(rng.uniform(0, duration) for _ in range(rng.randint(1, 3)))
    await client.send({"type": "user_message", "content": text})
    # Cut only once the turn is acknowledged (a frame of it arrived): a frame lost with the socket before the gateway
    # read it is the client's to re-send (T9), not a lost token.
    first = await client.recv(30)
    if first is None:
        tally.add("turns_never_started")
        tally.note(f"{tag}: no frame within 30 s of sending")
        return
    ledger.add(first)
    started = time.monotonic()
    deadline = started + duration + 30
    while not ledger.finished and time.monotonic() < deadline:
        wait = (started + cuts[0] - time.monotonic()) if cuts else (deadline - time.monotonic())
        frame = await client.recv(max(0.001, wait))
        if frame is not None:
            ledger.add(frame)
            continue
        if cuts:
            cuts.pop(0)
            await client.cut()
            await asyncio.sleep(rng.uniform(0, 0.3))
            await client.connect()
    if not ledger.judge(tally):
        tally.note(
            f"{tag}: deltas {_ranges(ledger.indices)} of {count}, "
            f"finals {len(ledger.finals)}, dones {len(ledger.dones)}"
        )


def _ranges(indices: list[int]) -> str:
    """``0-3,7-9`` for a compact view of which deltas arrived."""
    parts: list[str] = []
    for index in indices:
        if parts and index == int(parts[-1].split("-")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{index}"
        else:
            parts.append(str(index))
    return ",".join(parts)


async def session(system: System, n: int, stop_at: float, tally: Tally) -> None:
    rng = random.Random(n)
    client = ResumingClient(lambda sid: system.ws_url(sid, "?protocol=2"), await create_session(system), tally)
    await client.connect(resume=False)
    turn = 0
    try:
        while time.monotonic() < stop_at:
            await one_turn(client, rng, f"s{n}t{turn}", tally)
            turn += 1
    finally:
        await client.close()


def established_to(port: int) -> int:
    """Established TCP connections whose local port is ``port`` (the clients still connected to the gateway)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                count += 1
    return count


async def open_sockets_gauge(system: System) -> float:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{system.gateway.url}/metrics", headers={"X-Internal-Auth": system.key})).text
    found = re.search(r"^gateway_ws_connections_active (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else -1.0


async def stream_soak(tally: Tally) -> None:
    sessions, seconds = (50, 600.0) if tally.long else (6, 15.0)
    with running_system(tally) as system:
        stop_at = time.monotonic() + seconds
        results = await asyncio.gather(
            *(session(system, n, stop_at, tally) for n in range(sessions)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                tally.add("sessions_broken")
                tally.note(f"session failed: {type(result).__name__}: {result}")
        await asyncio.sleep(1.5)
        tally.set("gateway_open_sockets_after", await open_sockets_gauge(system))
        tally.set("gateway_established_connections_after", established_to(system.gateway.port))
        # The gateway keeps a keep-alive pool to the runtime (bounded by the peak of concurrent calls); a leaked
        # follower stream per resume would show up as hundreds more.
        tally.set("runtime_established_connections_after", established_to(system.runtime.port))
        logs = system.logs()
    scan_logs(tally, logs)
    if tally.get("tracebacks_in_logs"):
        tally.note(first_traceback(logs))
    lost = ("lost_tokens", "duplicated_tokens", "reordered_tokens", "duplicated_seq", "reordered_seq")
    tally.mark("turns ran with disconnects", tally.get("turns") > 0 and tally.get("hard_disconnects") > 0)
    tally.mark("0 lost, duplicated, reordered tokens", not any(tally.get(k) for k in lost))
    tally.mark("every turn exactly once (one final, one done)", tally.get("turns_inexact") == 0)
    tally.mark(
        "every session ran to the end", tally.get("sessions_broken") == 0 and not tally.get("turns_never_started")
    )
    tally.mark(
        "0 leaked sockets (gauge and connections back to 0)",
        tally.get("gateway_open_sockets_after") == 0 and tally.get("gateway_established_connections_after") == 0,
    )
    pool = 2 * sessions + 4
    tally.mark(
        f"0 leaked runtime streams (connections to the runtime ≤ keep-alive pool {pool})",
        tally.get("runtime_established_connections_after") <= pool,
        f"{int(tally.get('runtime_established_connections_after'))} after {int(tally.get('connections'))} connections",
    )
    tally.mark("0 tracebacks in the logs", tally.get("tracebacks_in_logs") == 0)


main = battery("t02_stream_soak", stream_soak, __doc__ or "")

if __name__ == "__main__":
    main()
