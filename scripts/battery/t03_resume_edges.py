"""T3 — resume edge cases over the v2 WebSocket: a hard disconnect before the first token, at token 1, after the last
token, after the end, while away for the whole rest of the turn, several cuts in a row, two clients on one turn, and
a fresh client replaying from seq 0.

Pass mark: for every case the full text exactly once (one final message with the exact words, no token lost,
duplicated or reordered, no ``seq`` twice) and exactly one terminal ``done``. Short: each case twice; long: 20 times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from turns import Ledger, ResumingClient, create_session, message

from harness import MissingFeature, System, Tally, battery, first_traceback, running_system, scan_logs


async def drive(client: ResumingClient, ledger: Ledger, timeout: float = 20.0) -> None:
    """Receive into ``ledger`` until the turn's ``done`` (or the timeout)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not ledger.finished:
        left = deadline - asyncio.get_running_loop().time()
        frame = await client.recv(max(0.01, left)) if left > 0 else None
        if frame is None:
            return
        ledger.add(frame)


async def receive_until(client: ResumingClient, ledger: Ledger, index: int) -> None:
    """Receive until the delta of token ``index`` arrived."""
    async with asyncio.timeout(20):
        while index not in ledger.indices and not ledger.finished:
            frame = await client.recv(20)
            if frame is not None:
                ledger.add(frame)


async def fresh(system: System, tally: Tally) -> ResumingClient:
    client = ResumingClient(lambda sid: system.ws_url(sid, "?protocol=2"), await create_session(system), tally)
    await client.connect(resume=False)
    return client


async def before_first_token(system: System, tally: Tally, n: int) -> list[Ledger]:
    client = await fresh(system, tally)
    text, words = message(f"a{n}", 10, delay_ms=10, ttft_ms=400)
    ledger = Ledger(words)
    await client.send({"type": "user_message", "content": text})
    await asyncio.sleep(0.05)
    await client.cut()
    await client.connect()
    await drive(client, ledger)
    await client.close()
    return [ledger]


async def at_token(system: System, tally: Tally, n: int, index: int, away: float = 0.05) -> list[Ledger]:
    client = await fresh(system, tally)
    text, words = message(f"b{n}i{index}", 10, delay_ms=30)
    ledger = Ledger(words)
    await client.send({"type": "user_message", "content": text})
    await receive_until(client, ledger, index)
    await client.cut()
    await asyncio.sleep(away)
    await client.connect()
    await drive(client, ledger)
    await client.close()
    return [ledger]


async def after_end(system: System, tally: Tally, n: int) -> list[Ledger]:
    client = await fresh(system, tally)
    text, words = message(f"c{n}", 8, delay_ms=5)
    ledger = Ledger(words)
    await client.send({"type": "user_message", "content": text})
    await drive(client, ledger)
    await client.cut()
    await client.connect()
    while (frame := await client.recv(1.0)) is not None:
        ledger.add(frame)  # anything of the finished turn arriving again is a duplicate
    await client.close()
    return [ledger]


async def cuts_in_a_row(system: System, tally: Tally, n: int) -> list[Ledger]:
    client = await fresh(system, tally)
    text, words = message(f"d{n}", 20, delay_ms=20)
    ledger = Ledger(words)
    await client.send({"type": "user_message", "content": text})
    await receive_until(client, ledger, 2)
    for _ in range(3):
        await client.cut()
        await client.connect()
        await asyncio.sleep(0.03)
    await drive(client, ledger)
    await client.close()
    return [ledger]


async def two_clients(system: System, tally: Tally, n: int) -> list[Ledger]:
    first = await fresh(system, tally)
    second = ResumingClient(first.url_for, first.session_id, tally)
    await second.connect(resume=True)  # follows the session's log and live events from seq 0
    await asyncio.sleep(0.1)
    text, words = message(f"e{n}", 12, delay_ms=20)
    ledgers = [Ledger(words), Ledger(words)]
    await first.send({"type": "user_message", "content": text})
    await asyncio.gather(drive(first, ledgers[0]), drive(second, ledgers[1]))
    await first.close()
    await second.close()
    return ledgers


async def replay_from_zero(system: System, tally: Tally, n: int) -> list[Ledger]:
    first = await fresh(system, tally)
    text, words = message(f"f{n}", 6, delay_ms=5)
    await first.send({"type": "user_message", "content": text})
    await drive(first, Ledger(words))
    await first.close()
    late = ResumingClient(first.url_for, first.session_id, tally)
    await late.connect(resume=True)
    ledger = Ledger(words)
    await drive(late, ledger, 10)
    while (frame := await late.recv(0.5)) is not None:
        ledger.add(frame)
    await late.close()
    return [ledger]


Case = Callable[[System, Tally, int], Awaitable[list[Ledger]]]
CASES: dict[str, Case] = {
    "before the first token": before_first_token,
    "at token 1": lambda s, t, n: at_token(s, t, n, 0),
    "after the last token": lambda s, t, n: at_token(s, t, n, 9),
    "away for the rest of the turn": lambda s, t, n: at_token(s, t, n, 1, away=0.6),
    "after the end": after_end,
    "several cuts in a row": cuts_in_a_row,
    "two clients on one turn": two_clients,
    "replay from seq 0 after the end": replay_from_zero,
}


async def resume_edges(tally: Tally) -> None:
    repeats = 20 if tally.long else 2
    with running_system(tally) as system:
        for name, case in CASES.items():
            for n in range(repeats):
                try:
                    ledgers = await case(system, tally, n)
                except (TimeoutError, OSError) as exc:
                    tally.add("cases_broken")
                    tally.note(f"{name}: {type(exc).__name__}: {exc}")
                    continue
                for ledger in ledgers:
                    if not ledger.judge(tally):
                        tally.add(f"inexact: {name}")
                        tally.note(
                            f"{name}: deltas {ledger.indices} finals {len(ledger.finals)} dones {len(ledger.dones)}"
                        )
        logs = system.logs()
    if tally.get("turns") == 0:
        raise MissingFeature("v2 turns over the gateway")
    scan_logs(tally, logs)
    if tally.get("tracebacks_in_logs"):
        tally.note(first_traceback(logs))
    tally.mark("every case ran", tally.get("cases_broken") == 0)
    tally.mark("full text exactly once in every case", tally.get("turns_inexact") == 0)
    tally.mark(
        "0 lost, duplicated or reordered tokens",
        not any(
            tally.get(k)
            for k in ("lost_tokens", "duplicated_tokens", "reordered_tokens", "duplicated_seq", "reordered_seq")
        ),
    )
    tally.mark(
        "exactly one terminal event per turn",
        tally.get("duplicated_done") == 0 and tally.get("turns_without_done") == 0,
    )
    tally.mark("0 tracebacks in the logs", tally.get("tracebacks_in_logs") == 0)


main = battery("t03_resume_edges", resume_edges, __doc__ or "")

if __name__ == "__main__":
    main()
