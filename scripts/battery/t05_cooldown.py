"""T5 — cooldown: a burst of 429s from one deployment.

The fake LLM (scripts/bench/fake_llm.py) answers every request with 429 and ``Retry-After: 20``. The llm-proxy's
models file has ``primary`` (openai → the fake) with the fallback ``backup`` (the mock's fault-free
``mock-stable``), and ``solo`` (openai → the fake, no fallback). Requests go straight to the llm-proxy, one after
another; the fake counts the upstream calls.

Pass mark: ``primary`` stops being picked within one request (after the first 429 no request reaches the fake while
it cools down) and every request succeeds on ``backup``; for ``solo`` upstream calls ≤ (1 + retries) × requests and
every request gets a 429 with ``Retry-After``. Short: 10 requests per model; long: 200.
"""

from __future__ import annotations

from typing import Any

import httpx

from harness import (
    BENCH,
    PYTHON,
    Tally,
    battery,
    first_traceback,
    running_system,
    scan_logs,
    spawn_json_process,
    stop_process,
)

MAX_RETRIES = 2


async def fake_calls(client: httpx.AsyncClient, fake: str) -> int:
    return int((await client.get(f"{fake}/fake/stats")).json()["requests"])


async def complete(client: httpx.AsyncClient, proxy: str, key: str, model: str, n: int) -> httpx.Response:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": f"request {n}"}], "stream": True}
    return await client.post(f"{proxy}/v1/chat/completions", json=body, headers={"X-Internal-Auth": key})


def models_file(tally: Tally) -> str:
    path = tally.workdir / "models.yaml"
    path.write_text(
        "models:\n"
        "  primary: {provider: openai, upstream_model: fake-model, fallbacks: [backup]}\n"
        "  backup: {provider: mock, upstream_model: mock-stable}\n"
        "  solo: {provider: openai, upstream_model: fake-model}\n"
    )
    return str(path)


async def cooldown(tally: Tally) -> None:
    requests = 200 if tally.long else 10
    fake_process, info = await spawn_json_process(
        PYTHON, str(BENCH / "fake_llm.py"), "--port", "0", "--fault", "429", "--retry-after", "20"
    )
    fake = f"http://127.0.0.1:{info['port']}"
    env = {
        "LLM_PROXY__MODELS_FILE": models_file(tally),
        "LLM_PROXY__OPENAI_BASE_URL": f"{fake}/v1",
        "LLM_PROXY__MAX_RETRIES": str(MAX_RETRIES),
        "LLM_PROXY__COOLDOWN_S": "60",  # the whole phase lies inside one cooldown
        "LLM_PROXY__MAX_RETRY_AFTER_S": "10",
    }
    try:
        with running_system(tally, env) as system:
            async with httpx.AsyncClient(timeout=30) as client:
                await primary_phase(tally, client, system.proxy.url, system.key, fake, requests)
                await solo_phase(tally, client, system.proxy.url, system.key, fake, requests)
            logs = system.logs()
    finally:
        await stop_process(fake_process)
    scan_logs(tally, logs)
    if tally.get("tracebacks_in_logs"):
        tally.note(first_traceback(logs))
    tally.mark("primary reached the fake at first", tally.get("primary_upstream_calls_first_request") >= 1)
    tally.mark("primary stops being picked within one request", tally.get("primary_upstream_calls_after_first") == 0)
    tally.mark("every primary request succeeds on the fallback", tally.get("primary_ok") == requests)
    bound = (1 + MAX_RETRIES) * requests
    tally.mark(
        f"solo: upstream calls ≤ (1 + retries) × requests = {bound}", 0 < tally.get("solo_upstream_calls") <= bound
    )
    tally.mark("solo: every request answered 429 with Retry-After", tally.get("solo_429_with_retry_after") == requests)
    tally.mark("0 tracebacks in the logs", tally.get("tracebacks_in_logs") == 0)


async def primary_phase(
    tally: Tally, client: httpx.AsyncClient, proxy: str, key: str, fake: str, requests: int
) -> None:
    before = await fake_calls(client, fake)
    for n in range(requests):
        answer = await complete(client, proxy, key, "primary", n)
        ok = answer.status_code == 200 and "data: [DONE]" in answer.text and '"error"' not in answer.text
        tally.add("primary_ok" if ok else "primary_failed")
        calls = await fake_calls(client, fake)
        tally.add(
            "primary_upstream_calls_first_request" if n == 0 else "primary_upstream_calls_after_first", calls - before
        )
        before = calls
    tally.set("primary_requests", requests)


async def solo_phase(tally: Tally, client: httpx.AsyncClient, proxy: str, key: str, fake: str, requests: int) -> None:
    before = await fake_calls(client, fake)
    for n in range(requests):
        answer = await complete(client, proxy, key, "solo", n)
        if answer.status_code == 429 and answer.headers.get("retry-after"):
            tally.add("solo_429_with_retry_after")
        else:
            tally.add("solo_other_answer")
            tally.note(f"solo #{n}: {answer.status_code} {answer.text[:160]}")
    tally.set("solo_upstream_calls", await fake_calls(client, fake) - before)
    tally.set("solo_requests", requests)


main = battery("t05_cooldown", cooldown, __doc__ or "")

if __name__ == "__main__":
    main()
