"""T4 — upstream chaos: turns through the whole chain (gateway → runtime → llm-proxy) to the fake LLM, which faults on
20% of its requests (429, 500, 503, stall, truncated stream, malformed chunk, connection reset).

The llm-proxy's model ``flaky`` is the fake (openai wire format) with the fallback ``steady`` (the mock's
fault-free ``mock-stable``). Each turn names its fault kind and where it strikes: before the first token (75% of
turns: retries and the fallback can still save the turn) or after 4 tokens (25%: the stream already started, so the
turn must end with an error, never a fake success).

Pass mark: every turn reaches a terminal ``done`` within its deadline; ≥ 99% of the turns whose faults strike
before the first token succeed; no turn "completes" with a truncated answer; the three services are still running;
0 tracebacks in the logs. Short: 100 turns; long: 2,000.
"""

from __future__ import annotations

import asyncio
import random
import re
import time

import httpx
from turns import ResumingClient, create_session

from harness import (
    BENCH,
    PYTHON,
    System,
    Tally,
    battery,
    first_traceback,
    running_system,
    scan_logs,
    spawn_json_process,
    stop_process,
)

KINDS = ("429", "500", "503", "stall", "truncate", "malformed", "reset")
TOKENS = 12
DEADLINE_S = 30.0
_FAKE_TOKEN = re.compile(r"t\d+@\d+")


async def session(system: System, tally: Tally, turns: list[tuple[str, int]], n: int) -> None:
    client = ResumingClient(lambda sid: system.ws_url(sid, "?protocol=2"), await create_session(system), tally)
    await client.connect(resume=False)
    try:
        for i, (kind, after) in enumerate(turns):
            await one_turn(client, tally, kind, after, f"chaos turn {n}.{i}")
    finally:
        await client.close()


async def one_turn(client: ResumingClient, tally: Tally, kind: str, after: int, label: str) -> None:
    where = "before_first_token" if after == 0 else "mid_stream"
    await client.send({"type": "user_message", "content": f"[fake fault={kind} fault_after={after}] {label}"})
    deadline = time.monotonic() + DEADLINE_S
    finals: list[str] = []
    done = None
    while done is None and time.monotonic() < deadline:
        frame = await client.recv(max(0.01, deadline - time.monotonic()))
        if frame is None:
            break
        if frame.get("type") == "assistant_message" and frame.get("is_final"):
            finals.append(str(frame.get("content", "")))
        elif frame.get("type") == "done":
            done = frame
    tally.add(f"turns {where}")
    if done is None:
        tally.add("turns_past_deadline")
        tally.note(f"{label} ({kind} {where}): no done within {DEADLINE_S:.0f} s")
        return
    stop = done.get("stop_reason")
    content = finals[-1] if finals else ""
    fake_tokens = len(_FAKE_TOKEN.findall(content))
    truncated = stop == "completed" and 0 < fake_tokens < TOKENS
    tally.add("silent_truncations", int(truncated))
    succeeded = stop == "completed" and bool(content) and not truncated
    tally.add(f"succeeded {where}" if succeeded else f"failed {where}")
    tally.add(
        "served_by_fallback" if succeeded and fake_tokens == 0 else "served_by_fake" if succeeded else "ended_in_error"
    )
    if not succeeded and where == "before_first_token":
        tally.note(f"{label} ({kind} before the first token): stop {stop}, content {content[:80]!r}")


def chain_env(tally: Tally, fake: str) -> dict[str, str]:
    """The llm-proxy's model table (``flaky`` → the fake, falling back to ``steady``) and short timeouts."""
    models = tally.workdir / "models.yaml"
    models.write_text(
        "models:\n"
        "  flaky: {provider: openai, upstream_model: fake-model, fallbacks: [steady]}\n"
        "  steady: {provider: mock, upstream_model: mock-stable}\n"
    )
    return {
        "LLM_PROXY__MODELS_FILE": str(models),
        "LLM_PROXY__OPENAI_BASE_URL": f"{fake}/v1",
        "LLM_PROXY__DEFAULT_MODEL": "flaky",
        "LLM_PROXY__FIRST_BYTE_TIMEOUT_S": "2",
        "LLM_PROXY__INTER_CHUNK_TIMEOUT_S": "2",
        "LLM_PROXY__COOLDOWN_S": "0.5",
        "AGENT_RUNTIME__LLM_MODEL": "flaky",
    }


async def run_turns(system: System, tally: Tally, plan: list[tuple[str, int]], sessions: int) -> None:
    per = [plan[i::sessions] for i in range(sessions)]
    results = await asyncio.gather(
        *(session(system, tally, turns, n) for n, turns in enumerate(per)), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            tally.add("sessions_broken")
            tally.note(f"session: {type(result).__name__}: {result}")
    alive = [name for name, s in system.services.items() if s.process and s.process.poll() is None]
    tally.set("services_alive_at_end", len(alive))


async def chaos(tally: Tally) -> None:
    rng = random.Random(4)
    total = 2000 if tally.long else 100
    fake_process, info = await spawn_json_process(
        PYTHON, str(BENCH / "fake_llm.py"), "--port", "0", "--fault-rate", "0.2", "--tokens", str(TOKENS),
        "--interval-ms", "5", "--ttft-ms", "5", "--retry-after", "1",
    )  # fmt: skip
    fake = f"http://127.0.0.1:{info['port']}"
    plan = [(rng.choice(KINDS), 0 if rng.random() < 0.75 else 4) for _ in range(total)]
    try:
        with running_system(tally, chain_env(tally, fake)) as system:
            await run_turns(system, tally, plan, sessions=10)
            logs = system.logs()
        async with httpx.AsyncClient(timeout=5) as client:
            stats = (await client.get(f"{fake}/fake/stats")).json()
        tally.set("fake_requests", stats["requests"])
        tally.set("fake_faults_injected", stats["faults"])
    finally:
        await stop_process(fake_process)
    scan_logs(tally, logs)
    if tally.get("tracebacks_in_logs"):
        tally.note(first_traceback(logs))
    judge(tally, total)


def judge(tally: Tally, total: int) -> None:
    early = tally.get("turns before_first_token")
    share = tally.get("succeeded before_first_token") / early if early else 0.0
    tally.set("success_share_before_first_token", round(share, 4))
    ran = tally.get("turns before_first_token") + tally.get("turns mid_stream")
    tally.mark(f"{total} turns ran", ran == total and not tally.get("sessions_broken"))
    tally.mark("every turn terminal within its deadline", tally.get("turns_past_deadline") == 0)
    tally.mark("≥ 99% succeed when faults strike before the first token", share >= 0.99, f"{share:.2%}")
    tally.mark("no turn completes with a truncated answer", tally.get("silent_truncations") == 0)
    tally.mark("faults were injected", tally.get("fake_faults_injected") > 0)
    tally.mark(
        "0 crashes (services alive, 0 tracebacks)",
        tally.get("services_alive_at_end") == 3 and tally.get("tracebacks_in_logs") == 0,
    )


main = battery("t04_upstream_chaos", chaos, __doc__ or "")

if __name__ == "__main__":
    main()
