"""codelab-acp as a real subprocess against a hand-written gateway (a websockets server on loopback)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from websockets.asyncio.server import ServerConnection, serve


@asynccontextmanager
async def gateway(handler: object) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0) as server:  # type: ignore[arg-type]
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def bridge(url: str, token: str | None = None) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k not in ("CODELAB_TOKEN", "CODELAB_URL")}
    if token is not None:
        env["CODELAB_TOKEN"] = token  # as an editor's settings pass it: kept out of the command line
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "codelab_acp", "--url", url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


async def say(process: asyncio.subprocess.Process, message: dict[str, object]) -> None:
    assert process.stdin is not None
    process.stdin.write(orjson.dumps(message) + b"\n")
    await process.stdin.drain()


async def heard(process: asyncio.subprocess.Process) -> dict[str, object]:
    assert process.stdout is not None
    answer = orjson.loads(await asyncio.wait_for(process.stdout.readline(), 20))
    assert isinstance(answer, dict)
    return answer


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}


async def test_a_refusing_gateway_answers_the_editor_and_ends_the_bridge() -> None:
    async def refuse(socket: ServerConnection) -> None:
        await socket.close(1008, "invalid credentials")

    async with gateway(refuse) as url:
        process = await bridge(url)
        await say(process, INITIALIZE)
        answer = await heard(process)
        assert await asyncio.wait_for(process.wait(), 20) == 1
    assert answer["id"] == 1
    error = answer["error"]
    assert isinstance(error, dict)
    assert error["code"] == -32000
    assert "invalid credentials" in str(error["message"])
    assert process.stderr is not None
    assert b"refused the connection: invalid credentials" in await process.stderr.read()


async def test_messages_pass_through_with_the_token_and_the_bridge_asks_for_seqs() -> None:
    seen: list[dict[str, object]] = []
    authorization: list[str | None] = []

    async def echo(socket: ServerConnection) -> None:
        assert socket.request is not None
        authorization.append(socket.request.headers.get("Authorization"))
        async for frame in socket:
            message = orjson.loads(frame)
            seen.append(message)
            await socket.send(orjson.dumps({"jsonrpc": "2.0", "id": message["id"], "result": {"ok": True}}).decode())

    async with gateway(echo) as url:
        process = await bridge(url, token="tok-0123456789")
        await say(process, INITIALIZE)
        assert await heard(process) == {"jsonrpc": "2.0", "id": 1, "result": {"ok": True}}
        assert process.stdin is not None
        process.stdin.close()
        assert await asyncio.wait_for(process.wait(), 20) == 0
    assert authorization == ["Bearer tok-0123456789"]
    capabilities = seen[0]["params"]["clientCapabilities"]  # type: ignore[index]
    assert capabilities["_meta"] == {"codelab.dev": {"seq": True}}
