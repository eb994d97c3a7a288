"""A TCP relay to put between two hops that resets, delays or blackholes connections on demand.

Modes: ``pass`` (relay as is), ``delay`` (every chunk, both directions, arrives ``delay_ms`` later; order and
throughput kept), ``blackhole`` (connections stay open, bytes are swallowed in both directions), ``reset``
(every open connection is closed with a TCP RST at once, and new ones as they arrive), ``refuse`` (new connections
are closed right after accept; open ones carry on).

Switch at run time with the control endpoint — ``GET /mode`` (current mode and counters),
``POST /mode?set=delay&delay_ms=50`` — or with signals: SIGUSR1 resets every open connection once (mode unchanged),
SIGUSR2 toggles between ``pass`` and ``blackhole``. Prints ``{"port": N, "control_port": M}`` once listening.
Tests start it as a process with ``spawn`` (``async with spawn("127.0.0.1:6379") as relay: await
relay.set_mode("blackhole")``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import struct
import sys
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from urllib.parse import parse_qs, urlsplit

import orjson
from stats import run

MODES = ("pass", "delay", "blackhole", "reset", "refuse")


@dataclass
class Counters:
    accepted: int = 0
    reset: int = 0
    refused: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    swallowed: int = 0


def rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Relay:
    """Accepts on one port and relays to ``target``; ``mode`` applies to every connection, open or new."""

    def __init__(self, target_host: str, target_port: int, mode: str = "pass", delay_ms: float = 0.0) -> None:
        self.target = (target_host, target_port)
        self.mode = mode
        self.delay_ms = delay_ms
        self.counters = Counters()
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    def set_mode(self, mode: str, delay_ms: float | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        if delay_ms is not None:
            self.delay_ms = delay_ms
        if mode == "reset":
            self.reset_all()

    def reset_all(self) -> None:
        for client, upstream in list(self._links):
            rst(client)
            rst(upstream)
            self.counters.reset += 1
        self._links.clear()

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters.accepted += 1
        if self.mode in ("reset", "refuse"):
            self.counters.refused += 1
            rst(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self.counters.refused += 1
            rst(writer)
            return
        link = (writer, up_writer)
        self._links.add(link)
        try:
            await asyncio.gather(self._pump(reader, up_writer, "bytes_up"), self._pump(up_reader, writer, "bytes_down"))
        finally:
            self._links.discard(link)
            for one in link:
                with contextlib.suppress(Exception):
                    one.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, counter: str) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        writer = asyncio.create_task(self._deliver(queue, sink))
        try:
            while data := await source.read(65536):
                if self.mode == "blackhole":
                    self.counters.swallowed += len(data)
                    continue
                setattr(self.counters, counter, getattr(self.counters, counter) + len(data))
                due = loop.time() + (self.delay_ms / 1e3 if self.mode == "delay" else 0.0)
                queue.put_nowait((due, data))
        except (ConnectionError, OSError):
            pass
        finally:
            queue.put_nowait((0.0, b""))
            with contextlib.suppress(Exception):
                await writer

    async def _deliver(self, queue: asyncio.Queue[tuple[float, bytes]], sink: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                due, data = await queue.get()
                if not data:
                    if sink.can_write_eof():
                        sink.write_eof()
                    return
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                sink.write(data)
                await sink.drain()

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The control endpoint: one HTTP/1.0-style request per connection."""
        with contextlib.suppress(Exception):
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.decode("latin-1").split("\r\n", 1)[0].split(" ", 2)
            url = urlsplit(target)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            status = "200 OK"
            if method == "POST" and url.path == "/mode":
                try:
                    delay = float(query["delay_ms"]) if "delay_ms" in query else None
                    self.set_mode(query.get("set", self.mode), delay)
                except ValueError as exc:
                    status = f"400 {exc}"
            body = orjson.dumps({"mode": self.mode, "delay_ms": self.delay_ms, **asdict(self.counters)})
            reply = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            writer.write(reply.encode() + b"connection: close\r\n\r\n" + body)
            await writer.drain()
        writer.close()


async def start(
    relay: Relay, host: str = "127.0.0.1", port: int = 0, control_port: int = 0
) -> tuple[asyncio.Server, asyncio.Server]:
    """Listen for relayed traffic and for control requests; both ports may be 0 (any free port)."""
    server = await asyncio.start_server(relay.accept, host, port, backlog=4096)
    control = await asyncio.start_server(relay.control, host, control_port)
    return server, control


@dataclass
class RelayProcess:
    """A relay started by ``spawn``: relayed traffic on ``port``; ``set_mode`` switches it."""

    port: int
    control_port: int

    async def set_mode(self, mode: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.control_port)
        try:
            writer.write(f"POST /mode?set={mode} HTTP/1.1\r\nhost: relay\r\n\r\n".encode())
            await writer.drain()
            status = (await reader.readline()).decode("latin-1")
        finally:
            writer.close()
        if " 200 " not in status:
            raise RuntimeError(f"the relay refused mode {mode!r}: {status.strip()}")


@contextlib.asynccontextmanager
async def spawn(target: str, mode: str = "pass") -> AsyncIterator[RelayProcess]:
    """This relay as its own process in front of ``target`` (host:port), for tests of other processes' faults."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--target", target, "--mode", mode, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            ports = orjson.loads(await process.stdout.readline())
        yield RelayProcess(ports["port"], ports["control_port"])
    finally:
        process.terminate()
        await process.wait()


async def _main(args: argparse.Namespace) -> None:
    host, _, port = args.target.rpartition(":")
    relay = Relay(host or "127.0.0.1", int(port), args.mode, args.delay_ms)
    server, control = await start(relay, args.host, args.port, args.control_port)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, relay.reset_all)
    loop.add_signal_handler(signal.SIGUSR2, lambda: relay.set_mode("blackhole" if relay.mode == "pass" else "pass"))
    ports = {"port": server.sockets[0].getsockname()[1], "control_port": control.sockets[0].getsockname()[1]}
    print(orjson.dumps(ports).decode(), flush=True)
    async with server, control:
        await asyncio.gather(server.serve_forever(), control.serve_forever())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="host:port to relay to")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--mode", choices=MODES, default="pass")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        run(_main(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
