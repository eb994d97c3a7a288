"""Cross-process live fan-out on an existing engine: what one hop through it adds to every token delta.

One publisher (this process) sends token deltas on S session channels, one every ``--interval-ms`` per stream, as
a runtime that owns S running turns would; one subscriber process (a follower's replica) listens on the S channels
and times every delta from its ``ns`` (CLOCK_MONOTONIC, shared by every process on the machine). Engines:

- ``redis``: ``PUBLISH`` per delta on a channel per session, pipelined (what queued while the previous batch was on
  the wire goes in one round trip), ``SUBSCRIBE`` to the session channels (redis-py).
- ``postgres``: ``pg_notify(channel, payload)`` per delta, one statement and one autocommit transaction per batch
  (same batching), ``LISTEN`` on one connection (asyncpg).

Printed per engine and stream count: added latency per delta (p50/p99, ms), CPU per delta of the publisher and of the
subscriber (µs, from ``/proc``), the engine's own CPU per delta where it can be read (Redis ``INFO cpu``; the
PostgreSQL backends of the bench's connections), and how many deltas arrived. Run from the repository root:

    .venv/bin/python scripts/bench/fanout_engines.py --engines redis,postgres --streams 1,200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import orjson
from stats import cpu_seconds, run, summarize

PG_DSN = os.environ.get("CODELAB_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CODELAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def payload(stream: int, index: int) -> bytes:
    """A token delta as the runtime publishes it (the chunk JSON), stamped with the send time."""
    chunk = {"type": "token", "content": f"t{index} ", "session_id": f"s{stream:04d}", "seq": index}
    return orjson.dumps({"seq": index, "ns": time.monotonic_ns(), "data": orjson.dumps(chunk).decode()})


# --- subscriber (a child process) ------------------------------------------------------------------------------


async def subscribe(engine: str, channels: list[str], expected: int, timeout: float) -> dict[str, Any]:
    latencies: list[float] = []
    done = asyncio.Event()

    def received(raw: bytes | str) -> None:
        message = orjson.loads(raw)
        latencies.append((time.monotonic_ns() - message["ns"]) / 1e6)
        if len(latencies) >= expected:
            done.set()

    if engine == "redis":
        import redis.asyncio as redis

        client = redis.Redis.from_url(REDIS_URL)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(*channels)

        async def pump() -> None:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    received(message["data"])

        print("ready", flush=True)
        ready = time.process_time()
        task = asyncio.create_task(pump())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout)
        task.cancel()
        await pubsub.aclose()
        await client.aclose()
        backends: list[int] = []
    else:
        import asyncpg

        connection = await asyncpg.connect(PG_DSN)
        for channel in channels:
            await connection.add_listener(channel, lambda _c, _p, _ch, data: received(data))
        backends = [connection.get_server_pid()]
        print(json.dumps({"backends": backends}), flush=True)
        print("ready", flush=True)
        ready = time.process_time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout)
        await connection.close()
    return {"received": len(latencies), "latency_ms": summarize(latencies), "cpu_s": time.process_time() - ready}


# --- publisher (this process) -----------------------------------------------------------------------------------


class Publisher:
    """Sends what the streams queue in batches, as the runtime's relay does: whatever queued while the previous
    batch was on the wire goes in the next one (one round trip per batch, not per delta)."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, bytes]] = []
        self.wake = asyncio.Event()
        self.closing = False
        self.batches = 0

    def send(self, channel: str, data: bytes) -> None:
        self.pending.append((channel, data))
        self.wake.set()

    async def writer(self) -> None:
        while not (self.closing and not self.pending):
            await self.wake.wait()
            self.wake.clear()
            if self.pending:
                batch, self.pending = self.pending, []
                self.batches += 1
                await self.flush(batch)

    async def stop(self) -> None:
        self.closing = True
        self.wake.set()

    async def open(self) -> None: ...
    async def flush(self, batch: list[tuple[str, bytes]]) -> None: ...
    async def close(self) -> None: ...
    async def engine_cpu(self) -> float:
        return float("nan")


class RedisPublisher(Publisher):
    async def open(self) -> None:
        import redis.asyncio as redis

        self.client = redis.Redis.from_url(REDIS_URL)

    async def flush(self, batch: list[tuple[str, bytes]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for channel, data in batch:
            pipe.publish(channel, data)
        await pipe.execute()

    async def close(self) -> None:
        await self.client.aclose()

    async def engine_cpu(self) -> float:
        info = await self.client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


class PostgresPublisher(Publisher):
    backends: list[int]

    async def open(self) -> None:
        import asyncpg

        self.connection = await asyncpg.connect(PG_DSN)
        self.backends = [self.connection.get_server_pid()]

    async def flush(self, batch: list[tuple[str, bytes]]) -> None:
        channels = [channel for channel, _ in batch]
        payloads = [data.decode() for _, data in batch]
        await self.connection.execute(
            "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)", channels, payloads
        )

    async def close(self) -> None:
        await self.connection.close()

    async def engine_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.backends + getattr(self, "listeners", []))


async def publish(engine: str, streams: int, deltas: int, interval: float, timeout: float) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    channels = [f"bench_{tag}_{i}" for i in range(streams)]
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--role",
            "sub",
            "--engines",
            engine,
            "--channels",
            ",".join(channels),
            "--expected",
            str(streams * deltas),
            "--timeout",
            str(timeout),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    sub_backends: list[int] = []
    while (line := child.stdout.readline().strip()) != "ready":
        if not line:
            raise RuntimeError("the subscriber ended before it was ready")
        sub_backends = json.loads(line)["backends"]
    publisher: Publisher = RedisPublisher() if engine == "redis" else PostgresPublisher()
    await publisher.open()
    publisher.listeners = sub_backends  # type: ignore[attr-defined]
    writer = asyncio.create_task(publisher.writer())
    engine_before = await publisher.engine_cpu()
    own_before = time.process_time()

    async def one(stream: int) -> None:
        await asyncio.sleep(interval * stream / max(streams, 1))  # spread the streams over one interval
        start = time.monotonic()
        for index in range(deltas):
            publisher.send(channels[stream], payload(stream, index))
            await asyncio.sleep(max(0.0, start + (index + 1) * interval - time.monotonic()))

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(streams)))
    await publisher.stop()
    await writer
    elapsed = time.monotonic() - started
    own = time.process_time() - own_before
    out, _ = child.communicate(timeout=timeout + 10)
    sub = json.loads(out.strip().splitlines()[-1])
    engine_after = await publisher.engine_cpu()
    await publisher.close()
    sent = streams * deltas
    return {
        "engine": engine,
        "streams": streams,
        "sent": sent,
        "received": sub["received"],
        "rate_per_s": round(sent / elapsed),
        "deltas_per_batch": sent / max(publisher.batches, 1),
        "latency_ms": sub["latency_ms"],
        "publisher_cpu_us_per_delta": own / sent * 1e6,
        "subscriber_cpu_s": sub["cpu_s"],  # from its "ready" on
        "engine_cpu_us_per_delta": (engine_after - engine_before) / sent * 1e6,
    }


async def main(args: argparse.Namespace) -> None:
    results = []
    for engine in args.engines.split(","):
        for streams in (int(s) for s in args.streams.split(",")):
            result = await publish(engine, streams, args.deltas, args.interval_ms / 1000, args.timeout)
            result["subscriber_cpu_us_per_delta"] = result.pop("subscriber_cpu_s") / result["sent"] * 1e6
            results.append(result)
            lat = result["latency_ms"]
            print(
                f"{engine:8s} streams={streams:4d} sent={result['sent']:6d} got={result['received']:6d} "
                f"rate={result['rate_per_s']:6d}/s batch={result['deltas_per_batch']:.1f} "
                f"latency p50={lat['p50']:.3f} p99={lat['p99']:.3f} ms  "
                f"cpu/delta pub={result['publisher_cpu_us_per_delta']:.1f} "
                f"sub={result['subscriber_cpu_us_per_delta']:.1f} engine={result['engine_cpu_us_per_delta']:.1f} µs",
                flush=True,
            )
    if args.json:
        print(json.dumps(results, indent=1))


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="redis,postgres")
    parser.add_argument("--streams", default="1,200")
    parser.add_argument("--deltas", type=int, default=100, help="deltas per stream")
    parser.add_argument("--interval-ms", type=float, default=20.0, help="time between two deltas of one stream")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--role", default="pub", help=argparse.SUPPRESS)
    parser.add_argument("--channels", default="", help=argparse.SUPPRESS)
    parser.add_argument("--expected", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "sub":
        result = run(subscribe(args.engines, args.channels.split(","), args.expected, args.timeout))
        print(json.dumps(result), flush=True)
    else:
        run(main(args))


if __name__ == "__main__":
    cli()
