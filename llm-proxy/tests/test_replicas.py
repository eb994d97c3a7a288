"""Two real proxy processes (``python -m llm_proxy``) sharing one Redis: one rpm budget, the cooldowns and the stored
responses between them, and a Redis lost mid-way behind the fault relay (per-process limits and stored responses,
never an error, back when it is)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from tests.conftest import AUTH, KEY, RelayProcess, free_port

MODELS = """\
models:
  limited: {provider: mock, upstream_model: mock, rpm: 10}
  spare: {provider: mock, upstream_model: mock, rpm: 10}
  flaky: {provider: mock, upstream_model: mock}
  plain: {provider: mock, upstream_model: mock}
"""


@dataclass
class ProxyProcess:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_lines(self, event: str) -> int:
        """How many log lines (JSON, one per line) are the event ``event``."""
        lines = self.log.read_text().splitlines()
        return sum(orjson.loads(line).get("event") == event for line in lines if line.startswith("{"))


@contextmanager
def proxies(
    tmp_path: Path, redis_url: str, prefix: str, redis_timeout: float = 2.0, keys: tuple[str, str] = (KEY, KEY)
) -> Iterator[list[ProxyProcess]]:
    """Two proxies on one Redis, each accepting its key of ``keys``. The Redis timeout is generous: it also counts
    the event loop's lag, and this machine is shared (a false outage would make the limits per process for a
    second)."""
    models = tmp_path / "models.yaml"
    models.write_text(MODELS)
    started: list[ProxyProcess] = []
    try:
        for index, key in enumerate(keys):
            port = free_port()
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("LLM_PROXY__")},
                "LLM_PROXY__PORT": str(port),
                "LLM_PROXY__INTERNAL_API_KEY": key,
                "LLM_PROXY__MODELS_FILE": str(models),
                "LLM_PROXY__MOCK_TOKEN_DELAY_MS": "0",
                "LLM_PROXY__MAX_RETRIES": "0",
                "LLM_PROXY__COOLDOWN_S": "60",
                "LLM_PROXY__REDIS_URL": redis_url,
                "LLM_PROXY__REDIS_PREFIX": prefix,
                "LLM_PROXY__REDIS_TIMEOUT_S": str(redis_timeout),
            }
            log = tmp_path / f"proxy-{index}.log"
            with log.open("wb") as out:
                process = subprocess.Popen([sys.executable, "-m", "llm_proxy"], env=env, stdout=out, stderr=out)
            started.append(ProxyProcess(f"http://127.0.0.1:{port}", log, process))
        for proxy in started:
            wait_healthy(proxy)
        yield started
    finally:
        for proxy in started:
            proxy.process.terminate()
        for proxy in started:
            try:
                proxy.process.wait(10)
            except subprocess.TimeoutExpired:
                proxy.process.kill()
                proxy.process.wait()


def wait_healthy(proxy: ProxyProcess) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            raise RuntimeError(f"the proxy exited:\n{proxy.log.read_text()}")
        try:
            if httpx.get(proxy.url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"the proxy did not start:\n{proxy.log.read_text()}")


@asynccontextmanager
async def sdk(proxy: ProxyProcess, key: str = KEY) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official OpenAI SDK on ``proxy``'s ``/v1``."""
    client = openai.AsyncOpenAI(api_key=key, base_url=proxy.url + "/v1", max_retries=0, timeout=30)
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers=AUTH, timeout=30) as http:
        yield http


async def complete(http: httpx.AsyncClient, proxy: ProxyProcess, model: str, text: str = "hi") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return await http.post(proxy.url + "/v1/chat/completions", json=body)


async def shared_state_up(http: httpx.AsyncClient, proxy: ProxyProcess) -> bool:
    metrics = (await http.get(proxy.url + "/metrics")).text
    return "llm_proxy_shared_state_up 1.0" in metrics


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    """Wait (bounded) until ``check()`` is true: for what travels between the processes through Redis."""
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.05)


async def test_two_proxies_share_one_rpm_budget_and_their_cooldowns(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    with proxies(tmp_path, redis_url, redis_prefix) as (a, b):
        async with client() as http:
            assert await shared_state_up(http, a)
            assert await shared_state_up(http, b)
            # rpm: 10 on each proxy, 20 requests at once through both: 10 a minute in total.
            answers = await asyncio.gather(*(complete(http, proxy, "limited") for proxy in (a, b) * 10))
            statuses = [answer.status_code for answer in answers]
            assert sorted(statuses) == [200] * 10 + [429] * 10
            refused = next(answer for answer in answers if answer.status_code == 429)
            assert refused.json()["error"]["code"] == "rate_limit_exceeded"
            assert 0 < int(refused.headers["retry-after"]) <= 60
            assert (await complete(http, b, "spare")).status_code == 200  # another model's budget is its own

            # An upstream 429 through a cools the deployment down on b too.
            assert (await complete(http, a, "flaky", "[[fault:429]]")).status_code == 429

            async def cooling_on_b() -> bool:
                models = (await http.get(b.url + "/v1/llm/models")).json()
                return not next(m for m in models if m["id"] == "flaky")["is_available"]

            await eventually(cooling_on_b)


async def test_redis_lost_mid_way_means_per_process_limits_and_no_errors(
    tmp_path: Path, redis_relay: RelayProcess, redis_prefix: str
) -> None:
    async with client() as http:
        with proxies(tmp_path, f"redis://127.0.0.1:{redis_relay.port}/0", redis_prefix, redis_timeout=0.5) as (a, b):
            assert [(await complete(http, p, "limited")).status_code for p in (a, b)] == [200, 200]

            await redis_relay.set_mode("blackhole")
            slowest = 0.0
            statuses: dict[str, list[int]] = {a.url: [], b.url: []}
            for proxy in (a, b) * 12:
                started = time.perf_counter()
                answer = await complete(http, proxy, "spare")
                slowest = max(slowest, time.perf_counter() - started)
                statuses[proxy.url].append(answer.status_code)
            # Per process: each proxy allows its own 10 of "spare"; nothing else fails, nothing waits for Redis
            # longer than the timeout (the client's own socket timeout would be 5 s).
            assert statuses[a.url] == [200] * 10 + [429] * 2
            assert statuses[b.url] == [200] * 10 + [429] * 2
            assert slowest < 4.0
            async with sdk(a) as on_a, sdk(b) as on_b:
                kept = await on_a.responses.create(model="plain", input="kept here while Redis is away")
                again = await on_a.responses.create(model="plain", input="again?", previous_response_id=kept.id)
                assert again.output_text == "again?"
                with pytest.raises(openai.BadRequestError) as elsewhere:  # the other process never saw it
                    await on_b.responses.create(model="plain", input="again?", previous_response_id=kept.id)
                assert elsewhere.value.code == "previous_response_not_found"
            for proxy in (a, b):
                metrics = (await http.get(proxy.url + "/metrics")).text
                assert "llm_proxy_shared_state_up 0.0" in metrics
                assert "llm_proxy_shared_state_outages_total 1.0" in metrics

            await redis_relay.set_mode("pass")
            await eventually(lambda: shared_state_up(http, a))
            await eventually(lambda: shared_state_up(http, b))
            assert (await complete(http, a, "limited")).status_code == 200
            async with sdk(a) as on_a:  # stored while Redis was away: still found in the process
                assert (await on_a.responses.retrieve(kept.id)).output_text == kept.output_text
            for proxy in (a, b):
                assert proxy.log_lines("shared_state_unreachable") == 1
                assert proxy.log_lines("shared_state_reachable") == 2


async def test_a_response_stored_through_one_proxy_is_continued_retrieved_and_deleted_through_the_other(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    with proxies(tmp_path, redis_url, redis_prefix) as (a, b):
        async with sdk(a) as on_a, sdk(b) as on_b:
            first = await on_a.responses.create(model="plain", input="remember these words " * 10)
            # Streamed: the response is stored before response.completed leaves, so the next turn may follow at once.
            async with on_b.responses.stream(model="plain", input="and now?", previous_response_id=first.id) as events:
                second = await events.get_final_response()
            alone = await on_b.responses.create(model="plain", input="and now?")
            assert second.output_text == alone.output_text == "and now?"
            # The mock counts the prompt it was given: the conversation kept by proxy a made b's prompt longer.
            assert second.usage is not None
            assert alone.usage is not None
            assert second.usage.input_tokens > alone.usage.input_tokens + 20
            third = await on_a.responses.create(model="plain", input="and then?", previous_response_id=second.id)
            assert third.usage is not None
            assert third.usage.input_tokens > second.usage.input_tokens

            assert (await on_b.responses.retrieve(first.id)).output_text == first.output_text
            await on_b.responses.delete(first.id)
            with pytest.raises(openai.NotFoundError):
                await on_a.responses.retrieve(first.id)
            with pytest.raises(openai.NotFoundError):
                await on_a.responses.delete(first.id)
            with pytest.raises(openai.BadRequestError) as gone:
                await on_a.responses.create(model="plain", input="x", previous_response_id=first.id)
            assert gone.value.code == "previous_response_not_found"
            assert (await on_a.responses.retrieve(second.id)).id == second.id  # the others are still kept


async def test_a_stored_response_is_invisible_to_another_caller_on_the_same_redis(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    other_key = "another-callers-internal-key"
    with proxies(tmp_path, redis_url, redis_prefix, keys=(KEY, other_key)) as (a, b):
        async with sdk(a) as alice, sdk(b, other_key) as bob:
            kept = await alice.responses.create(model="plain", input="alice's secret")
            with pytest.raises(openai.BadRequestError) as refused:
                await bob.responses.create(model="plain", input="x", previous_response_id=kept.id)
            assert refused.value.code == "previous_response_not_found"
            with pytest.raises(openai.NotFoundError):
                await bob.responses.retrieve(kept.id)
            with pytest.raises(openai.NotFoundError):
                await bob.responses.delete(kept.id)
            assert (await alice.responses.retrieve(kept.id)).output_text == kept.output_text
