"""How much CPU the client spends per streamed token: the console script against a flat-out v2 server.

A minimal v2 server (in this process) answers each ``user_message`` with ``session_info``, N token deltas, the final
message and ``done``, as fast as the socket takes them. The client runs as a separate process (``codelab-chat -m``,
output to /dev/null); its CPU comes from ``getrusage(RUSAGE_CHILDREN)``. A run with N=0 is subtracted, which removes
interpreter start-up and imports. Usage: ``python bench/stream_bench.py [tokens] [rounds]``.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import subprocess
import sys
import time

import orjson
from websockets.asyncio.server import ServerConnection, serve


def frames(tokens: int) -> list[str]:
    base = {"session_id": "bench"}
    out = [{"type": "session_info", **base}]
    out += [{"type": "assistant_message", "token": f"tok{n} ", "is_final": False, **base} for n in range(tokens)]
    out.append({"type": "assistant_message", "content": "".join(f"tok{n} " for n in range(tokens)), "is_final": True})
    out.append({"type": "done", "stop_reason": "completed", "usage": {"prompt_tokens": 1, "completion_tokens": tokens}})
    return [orjson.dumps({**frame, "seq": seq}).decode() for seq, frame in enumerate(out, start=1)]


async def client_cpu(url: str, json_mode: bool) -> tuple[float, float]:
    """CPU seconds and wall seconds of one client process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    arguments = [sys.executable, "-m", "codelab_chat", "-m", "go", "--url", url] + (["--json"] if json_mode else [])
    process = await asyncio.create_subprocess_exec(*arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    code = await process.wait()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise RuntimeError(f"client exited {code}")
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), wall


async def main(tokens: int, rounds: int) -> None:
    script: dict[str, list[str]] = {}

    async def handle(connection: ServerConnection) -> None:
        async for _message in connection:
            for frame in script["frames"]:
                await connection.send(frame)

    async with serve(handle, "127.0.0.1", 0, compression=None) as server:
        url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"
        for mode in (False, True):
            costs: list[float] = []
            walls: list[float] = []
            for _ in range(rounds):
                script["frames"] = frames(0)
                idle, _ = await client_cpu(url, mode)
                script["frames"] = frames(tokens)
                busy, wall = await client_cpu(url, mode)
                costs.append((busy - idle) / tokens * 1e6)
                walls.append(wall)
            label = "--json" if mode else "plain "
            print(
                f"{label}: {statistics.median(costs):6.1f} µs CPU per token (median of {rounds}, {tokens} tokens), "
                f"{tokens / statistics.median(walls):8.0f} tokens/s wall incl. start-up"
            )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000, int(sys.argv[2]) if len(sys.argv) > 2 else 5))
