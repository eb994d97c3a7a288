"""The repository's fault relay (``scripts/bench/chaos_relay.py``) as a real process between the proxy and Redis."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson

CHAOS_RELAY = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "chaos_relay.py"


@dataclass
class FaultRelay:
    port: int
    control_port: int
    database: str

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self.database}"

    async def set_mode(self, mode: str) -> None:
        """``pass``, ``blackhole`` (connections stay open, bytes are swallowed), ``reset`` (every connection, open
        or new, is reset), ``refuse`` (new ones are)."""
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"http://127.0.0.1:{self.control_port}/mode", params={"set": mode}, timeout=5)
        answer.raise_for_status()


@asynccontextmanager
async def start_relay(redis_url: str) -> AsyncIterator[FaultRelay]:
    target = urlsplit(redis_url)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHAOS_RELAY),
        "--target",
        f"{target.hostname}:{target.port or 6379}",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            ports = orjson.loads(await process.stdout.readline())
        yield FaultRelay(ports["port"], ports["control_port"], target.path)
    finally:
        process.terminate()
        await process.wait()
