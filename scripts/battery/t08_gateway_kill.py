"""T8 — kill -9 of the gateway under load, restart on the same port, clients reconnect and resume.

Sessions stream long turns over v2; mid-turn the gateway process gets SIGKILL and is started again. Every client
reconnects (retrying until the gateway answers) and sends ``resume{last_seq}``; the runtime kept the runs going.
Pass mark: every client resumed; 0 lost, 0 duplicated, 0 reordered tokens; every turn exactly one final message with
the exact words and one ``done``. Short: 6 sessions, 2 kills; long: 50 sessions, 20 kills.
"""

from __future__ import annotations

import asyncio
import random
import time

import websockets
from turns import Ledger, ResumingClient, create_session, message

from harness import System, Tally, battery, first_traceback, running_system, scan_logs

TOKENS = 160  # 4.8 s per turn: the turn outlives the gateway's restart (~2 s), so resume meets it live


async def stream_turn(client: ResumingClient, tag: str, tally: Tally, started: asyncio.Event) -> None:
    text, words = message(tag, TOKENS, delay_ms=30)
    ledger = Ledger(words)
    await client.send({"type": "user_message", "content": text})
    deadline = time.monotonic() + 90
    while not ledger.finished and time.monotonic() < deadline:
        try:
            frame = await client.recv(1.0)
        except websockets.ConnectionClosed:
            tally.add("disconnected_by_kill")
            client.socket = None
            try:
                await client.connect(attempts=150, pause=0.1)
                tally.add("resumed")
            except OSError as exc:
                tally.add("could_not_reconnect")
                tally.note(f"{tag}: {exc}")
                break
            continue
        if frame is not None:
            ledger.add(frame)
            if ledger.indices:
                started.set()
    if not ledger.judge(tally):
        tally.note(
            f"{tag}: {len(set(ledger.indices))}/{TOKENS} deltas, finals {len(ledger.finals)}, dones {len(ledger.dones)}"
        )


async def kill_round(
    system: System, clients: list[ResumingClient], round_: int, rng: random.Random, tally: Tally
) -> None:
    flags = [asyncio.Event() for _ in clients]
    turns = [asyncio.create_task(stream_turn(c, f"k{round_}c{i}", tally, flags[i])) for i, c in enumerate(clients)]
    await asyncio.wait_for(asyncio.gather(*(f.wait() for f in flags)), 20)
    await asyncio.sleep(rng.uniform(0.1, 0.8))
    gateway = system.gateway
    assert gateway.process is not None
    gateway.process.kill()
    gateway.process.wait()
    tally.add("gateway_kills")
    began = time.monotonic()
    gateway.start()
    await asyncio.to_thread(gateway.wait_healthy)
    tally.set(
        "gateway_restart_to_ready_max_s", max(tally.get("gateway_restart_to_ready_max_s"), time.monotonic() - began)
    )
    await asyncio.gather(*turns)


async def gateway_kill(tally: Tally) -> None:
    sessions, kills = (50, 20) if tally.long else (6, 2)
    rng = random.Random(8)
    with running_system(tally) as system:
        clients = []
        for _ in range(sessions):
            client = ResumingClient(lambda sid: system.ws_url(sid, "?protocol=2"), await create_session(system), tally)
            await client.connect(resume=False)
            clients.append(client)
        for round_ in range(kills):
            await kill_round(system, clients, round_, rng, tally)
        for client in clients:
            await client.close()
        logs = system.logs()
    scan_logs(tally, logs)
    if tally.get("tracebacks_in_logs"):
        tally.note(first_traceback(logs))
    lost = ("lost_tokens", "duplicated_tokens", "reordered_tokens", "duplicated_seq", "reordered_seq")
    tally.mark(
        "the gateway was killed mid-turn", tally.get("gateway_kills") == kills and tally.get("disconnected_by_kill") > 0
    )
    tally.mark("every client resumed", tally.get("could_not_reconnect") == 0)
    tally.mark("0 lost, duplicated, reordered tokens", not any(tally.get(k) for k in lost))
    tally.mark("every turn exactly once (one final, one done)", tally.get("turns_inexact") == 0)
    tally.mark("0 tracebacks in the logs", tally.get("tracebacks_in_logs") == 0)


main = battery("t08_gateway_kill", gateway_kill, __doc__ or "")

if __name__ == "__main__":
    main()
