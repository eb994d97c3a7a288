"""The benchmark tools speak the real wire formats: the fake LLM's three APIs and faults, and the two relays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import bare_relay
import chaos_relay
import fake_llm
import load_client
import message_path
import orjson
import pytest
import pytest_asyncio
import scaleout
from aiohttp import web
from stats import parse_tokens, run

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def fake_url() -> AsyncIterator[str]:
    server, _ = await fake_llm.start("127.0.0.1", 0, fake_llm.Knobs(ttft_ms=0, interval_ms=1, tokens=5))
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()


@pytest_asyncio.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _sse_data(body: bytes) -> list[bytes]:
    return [line[6:] for line in body.split(b"\n") if line.startswith(b"data: ")]


def _chat(content: str = "hello", stream: bool = True) -> dict[str, object]:
    return {
        "model": "m",
        "stream": stream,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": content}],
    }


async def test_openai_stream_carries_every_token_with_its_emit_time_then_usage_and_done(
    fake_url: str, client: aiohttp.ClientSession
) -> None:
    async with client.post(fake_url + "/v1/chat/completions", json=_chat()) as response:
        assert response.headers["content-type"] == "text/event-stream"
        data = _sse_data(await response.read())
    assert data[-1] == b"[DONE]"
    chunks = [orjson.loads(d) for d in data[:-1]]
    texts = [c["choices"][0]["delta"]["content"] for c in chunks if c["choices"] and c["choices"][0]["delta"]]
    tokens = [parse_tokens(t)[0] for t in texts]
    assert [index for index, _ in tokens] == [0, 1, 2, 3, 4]
    assert [emit for _, emit in tokens] == sorted(emit for _, emit in tokens)
    assert chunks[0]["x_emit_ns"] == tokens[0][1]
    assert chunks[-1]["usage"]["completion_tokens"] == 5


async def test_a_directive_in_the_last_user_message_overrides_the_defaults(
    fake_url: str, client: aiohttp.ClientSession
) -> None:
    async with client.post(fake_url + "/v1/chat/completions", json=_chat("go [fake tokens=2 burst=1]")) as response:
        body = await response.read()
    assert len(parse_tokens(body.decode())) == 2


async def test_openai_without_stream_answers_one_completion(fake_url: str, client: aiohttp.ClientSession) -> None:
    async with client.post(fake_url + "/v1/chat/completions", json=_chat(stream=False)) as response:
        completion = await response.json()
    assert completion["object"] == "chat.completion"
    assert len(parse_tokens(completion["choices"][0]["message"]["content"])) == 5


async def test_anthropic_messages_stream_has_the_event_sequence_of_the_real_api(
    fake_url: str, client: aiohttp.ClientSession
) -> None:
    async with client.post(fake_url + "/v1/messages", json=_chat(), headers={"X-Fake-Tokens": "3"}) as response:
        body = await response.read()
    events = [line[7:] for line in body.decode().split("\n") if line.startswith("event: ")]
    assert events == ["message_start", "content_block_start", "ping"] + ["content_block_delta"] * 3 + [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    deltas = [orjson.loads(d) for d in _sse_data(body)]
    assert deltas[-2]["delta"]["stop_reason"] == "end_turn"


async def test_ollama_chat_streams_ndjson_ending_with_done(fake_url: str, client: aiohttp.ClientSession) -> None:
    async with client.post(fake_url + "/api/chat", json={"model": "m", "messages": []}) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [orjson.loads(line) for line in (await response.read()).splitlines()]
    assert [line["done"] for line in lines] == [False] * 5 + [True]
    assert lines[-1]["eval_count"] == 5


async def test_fault_429_answers_retry_after_and_the_openai_error_envelope(
    fake_url: str, client: aiohttp.ClientSession
) -> None:
    headers = {"X-Fake-Fault": "429", "X-Fake-Retry-After": "7"}
    async with client.post(fake_url + "/v1/chat/completions", json=_chat(), headers=headers) as response:
        assert response.status == 429
        assert response.headers["retry-after"] == "7"
        assert (await response.json())["error"]["type"] == "rate_limit_exceeded"


@pytest.mark.parametrize("status", ["500", "503"])
async def test_server_faults_answer_their_status(fake_url: str, client: aiohttp.ClientSession, status: str) -> None:
    async with client.post(fake_url + "/v1/messages", json=_chat(), headers={"X-Fake-Fault": status}) as response:
        assert response.status == int(status)
        assert (await response.json())["type"] == "error"


async def test_truncation_ends_the_body_without_done(fake_url: str, client: aiohttp.ClientSession) -> None:
    headers = {"X-Fake-Fault": "truncate", "X-Fake-Fault-After": "2"}
    async with client.post(fake_url + "/v1/chat/completions", json=_chat(), headers=headers) as response:
        data = _sse_data(await response.read())
    assert len(data) == 2
    assert b"[DONE]" not in data


async def test_malformed_fault_sends_one_chunk_that_does_not_parse(
    fake_url: str, client: aiohttp.ClientSession
) -> None:
    headers = {"X-Fake-Fault": "malformed", "X-Fake-Fault-After": "1"}
    async with client.post(fake_url + "/v1/chat/completions", json=_chat(), headers=headers) as response:
        data = _sse_data(await response.read())
    broken = []
    for item in data:
        if item != b"[DONE]":
            try:
                orjson.loads(item)
            except orjson.JSONDecodeError:
                broken.append(item)
    assert len(broken) == 1


async def test_reset_fault_breaks_the_connection_mid_stream(fake_url: str, client: aiohttp.ClientSession) -> None:
    headers = {"X-Fake-Fault": "reset", "X-Fake-Fault-After": "2"}
    with pytest.raises(aiohttp.ClientError):
        async with client.post(fake_url + "/v1/chat/completions", json=_chat(), headers=headers) as response:
            await response.read()


async def test_the_relay_relays_a_whole_stream_and_reports_its_mode(
    fake_url: str, client: aiohttp.ClientSession
) -> None:
    relay = chaos_relay.Relay("127.0.0.1", int(fake_url.rsplit(":", 1)[1]))
    server, control = await chaos_relay.start(relay)
    relayed = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    control_url = f"http://127.0.0.1:{control.sockets[0].getsockname()[1]}"
    try:
        async with client.post(relayed + "/v1/chat/completions", json=_chat()) as response:
            data = _sse_data(await response.read())
        assert data[-1] == b"[DONE]"
        async with client.post(control_url + "/mode?set=delay&delay_ms=5") as response:
            state = await response.json()
        assert (state["mode"], state["delay_ms"]) == ("delay", 5.0)
        assert state["bytes_down"] > 0
    finally:
        server.close()
        control.close()


async def test_the_relay_in_reset_mode_refuses_with_a_reset(fake_url: str, client: aiohttp.ClientSession) -> None:
    relay = chaos_relay.Relay("127.0.0.1", int(fake_url.rsplit(":", 1)[1]), mode="reset")
    server, control = await chaos_relay.start(relay)
    relayed = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        with pytest.raises(aiohttp.ClientError):
            async with client.post(relayed + "/v1/chat/completions", json=_chat()) as response:
                await response.read()
        assert relay.counters.refused == 1
    finally:
        server.close()
        control.close()


async def _bare_chain(host: str, port: int) -> list[asyncio.Server]:
    """Two bare relays chained in front of ``host:port``; the outer one is the first."""
    inner = await bare_relay.start((host, port))
    outer = await bare_relay.start(("127.0.0.1", inner.sockets[0].getsockname()[1]))
    return [outer, inner]


async def test_two_chained_bare_relays_relay_a_whole_stream(fake_url: str, client: aiohttp.ClientSession) -> None:
    servers = await _bare_chain("127.0.0.1", int(fake_url.rsplit(":", 1)[1]))
    relayed = f"http://127.0.0.1:{servers[0].sockets[0].getsockname()[1]}"
    try:
        async with client.post(relayed + "/v1/chat/completions", json=_chat()) as response:
            data = _sse_data(await response.read())
        assert data[-1] == b"[DONE]"
        assert [index for index, _ in parse_tokens(b"".join(data).decode())] == [0, 1, 2, 3, 4]
    finally:
        for server in servers:
            server.close()


async def _bytes_both_ways_and_closes() -> None:
    ended: asyncio.Queue[bytes] = asyncio.Queue()

    async def upper_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received = b""
        while data := await reader.read(65536):
            received += data
            writer.write(data.upper())
        ended.put_nowait(received)  # the client's end reached us through both relays
        writer.close()

    echo = await asyncio.start_server(upper_echo, "127.0.0.1", 0)
    servers = [*await _bare_chain("127.0.0.1", echo.sockets[0].getsockname()[1]), echo]
    port = servers[0].sockets[0].getsockname()[1]
    try:
        # a half-close travels up, the server's close travels back down
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 1) == b"PING"
        writer.write_eof()
        assert await asyncio.wait_for(ended.get(), 1) == b"ping"
        assert await asyncio.wait_for(reader.read(), 1) == b""
        writer.close()
        # the client resets the connection: the relays close their side up to the server
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"pong")
        assert await asyncio.wait_for(reader.readexactly(4), 1) == b"PONG"
        chaos_relay.rst(writer)
        assert await asyncio.wait_for(ended.get(), 1) == b"pong"
    finally:
        for server in servers:
            server.close()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_bare_relays_pass_bytes_both_ways_and_a_close_on_one_side_closes_the_other(loop: str) -> None:
    if loop == "uvloop":  # the relay's own loop, which starts reading before the upstream connection is open
        await asyncio.to_thread(run, _bytes_both_ways_and_closes())
    else:
        await _bytes_both_ways_and_closes()


async def test_the_load_client_times_every_token_of_concurrent_streams(fake_url: str) -> None:
    args = load_client.parse(["--target", "fake", "--url", fake_url, "--streams", "3", "--requests", "2"])
    args.tokens = 5
    records = await load_client.drive(args)
    summary = load_client.analyse(records, expected=5)
    assert (summary["requests"], summary["failed_requests"], summary["missing_frames"]) == (6, 0, 0)
    assert summary["content_frames"] == 30
    assert summary["transit_ms"]["n"] == 30
    assert summary["transit_ms"]["p50"] >= 0


async def test_the_message_path_counts_every_package_of_the_chain_and_only_their_sources(tmp_path: Path) -> None:
    counter = message_path.PathCounter()
    frames = await message_path.whole_chain(counter, tmp_path)
    assert frames[-1]["type"] == "done"
    assert "".join(frame["token"] for frame in frames if frame.get("is_final") is False) == "hello again"
    assert all(files > 0 and functions >= files for files, functions in counter.per_package().values())
    assert {file.split("/")[0] for file in counter.files()} == set(message_path.PACKAGES)
    assert ("gateway", "gateway/ws/connection.py") in {(package, file) for package, file, _ in counter.functions}


async def test_the_scaleout_bench_reads_its_plans_and_does_its_report_math() -> None:
    args = scaleout.parse(["--plans", "one,two", "--tokens", "200,2000"])
    assert (args.plans, args.tokens) == (["one", "two"], [200, 2000])
    for wrong in (["--plans", "one,three"], ["--tokens", "0"], ["--tokens", "2k"]):
        with pytest.raises(SystemExit):
            scaleout.parse(wrong)
    result = scaleout.report(
        10.0,
        {"runtime-a": 6_000, "runtime-b": 4_000},
        {"runtime-a": 0.3, "runtime-b": 0.1, "fake": 0.05, "client": 0.05, "postgres": 0.1},
        ("runtime-a", "runtime-b"),
    )
    assert (result["tokens"], result["tokens_per_s"]) == (10_000, 1_000)
    assert result["core_share"]["runtime-a"] == pytest.approx(0.03)
    assert result["cpu_ms_per_1k_tokens"]["runtime-a"] == pytest.approx(50)  # over its own 6,000 tokens
    assert result["cpu_ms_per_1k_tokens"]["fake"] == pytest.approx(5)  # a helper: over all 10,000
    assert result["runtime_cpu_ms_per_1k_tokens"] == pytest.approx(40)
    assert result["helper_cpu_ms_per_1k_tokens"] == pytest.approx(20)
    computed = scaleout.projections(runtime_one=40, helpers_one=20, runtime_two=40, helpers_two=20)
    assert computed["per_core"] == pytest.approx(25_000)
    # one: 25,000 tokens/s (the runtime's core); two: 2 cores / 60 µs a token = 33,333 tokens/s
    assert computed["quiet_two_cores"] == pytest.approx(4 / 3)
    assert computed["own_cores"] == pytest.approx(2)
    # 20 ms a turn + 30 µs a token: 200-token turns cost 130 ms per 1k tokens, 2,000-token turns 40
    assert scaleout.split([(200, 130.0), (2000, 40.0)]) == (pytest.approx(20), pytest.approx(30))


async def test_the_scaleout_client_counts_the_tokens_of_every_delta_until_done() -> None:
    frames = [
        b'id: %d\ndata: {"type":"assistant_message","token":"t%d@5 ","is_final":false}\n\n' % (i, i) for i in range(5)
    ]
    frames += [b'id: 6\ndata: {"type":"assistant_message","content":"t0@5 t1@5","is_final":true}\n\n']
    frames += [b'id: 7\ndata: {"type":"done","stop_reason":"completed"}\n\n']
    body = b"".join(frames)

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for start in range(0, len(body), 7):  # events cut across reads
            await response.write(body[start : start + 7])
        return response

    app = web.Application()
    app.router.add_post("/agent/message/stream", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    counters = scaleout.Counters({"runtime-a": 0}, {"runtime-a": 0})
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/agent/message/stream"
            await scaleout.turn(http, url, "runtime-a", "go", counters)
    finally:
        await runner.cleanup()
    assert (counters.tokens, counters.turns, counters.errors) == ({"runtime-a": 5}, {"runtime-a": 1}, [])


async def test_the_scaleout_summary_compares_with_the_single_runtime_plan_and_splits_per_turn_and_token() -> None:
    def result(plan: str, count: int, rate: float, runtime: float) -> dict[str, object]:
        return {
            "plan": plan,
            "tokens_per_turn": count,
            "round": 0,
            "tokens_per_s": rate,
            "runtime_cpu_ms_per_1k_tokens": runtime,
            "helper_cpu_ms_per_1k_tokens": 10.0,
            "cpu_ms_per_1k_tokens": {"postgres": runtime / 2},
        }

    results = [result("free", 200, 1000, 130), result("two-free", 200, 1500, 130)]
    results += [result("free", 2000, 4000, 40), result("two-free", 2000, 7000, 40)]
    lines = scaleout.summary(results, ["free", "two-free"])
    assert "÷ free, per round: median 1.50x" in lines[1]
    assert "÷ free, per round: median 1.75x" in lines[4]
    assert lines[-2] == "CPU of a runtime, split over the turn lengths: 20.0 ms per turn + 30.0 µs per token"
    assert lines[-1] == "CPU of PostgreSQL, split over the turn lengths: 10.0 ms per turn + 15.0 µs per token"
