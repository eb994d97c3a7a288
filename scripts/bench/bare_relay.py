"""The cheapest TCP pass-through hop in Python: the floor of one Python hop on this machine.

``chain.py`` chains three of these in front of the fake LLM (configuration F), so the report can show what three
Python hops cost before any HTTP parsing, JSON or framework work: what bounds the chain's targets. Nothing but the
relay (``chaos_relay.py`` has modes and counters): uvloop, asyncio Protocols, and the bytes of ``data_received`` go
straight to the other socket's transport. Backpressure: when one socket's send buffer is full, the other socket stops
reading. A half-close (EOF) is passed on, a lost connection closes the other socket. TCP_NODELAY on both sockets.
Prints ``{"port": N}`` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from typing import cast

import orjson
from stats import run


class Side(asyncio.Protocol):
    """One socket of a relayed connection; what it reads goes to ``peer``, the other socket."""

    transport: asyncio.Transport

    def __init__(self, peer: Side) -> None:
        self.peer = peer
        self.eof = False  # this socket has received EOF

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.peer.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer.eof or not peer.transport.can_write_eof():
            return False  # both directions ended: this transport closes, connection_lost closes the peer
        peer.transport.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.peer.transport.close()

    def pause_writing(self) -> None:
        self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        self.peer.transport.resume_reading()


class Client(Side):
    """The accepted socket: opens the upstream connection, and holds what the client sends until it is open."""

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__(Side(self))
        self.target = target
        self.pending: list[bytes] | None = []  # None once upstream is connected
        self.connecting: asyncio.Task[None] | None = None  # held here: the loop keeps tasks only weakly

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport.pause_reading()
        self.connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            await asyncio.get_running_loop().create_connection(lambda: self.peer, *self.target)
        except OSError:
            self.transport.close()
            return
        if self.transport.is_closing():  # the client left meanwhile
            self.peer.transport.close()
            return
        pending, self.pending = self.pending, None
        self.transport.resume_reading()  # before the write, which may pause reading again (backpressure)
        if pending:
            self.peer.transport.write(b"".join(pending))

    def data_received(self, data: bytes) -> None:
        if self.pending is None:
            self.peer.transport.write(data)
        else:  # uvloop starts reading right after connection_made, paused or not: hold it, pause now
            self.pending.append(data)
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        # an EOF before upstream is connected means the client sent nothing: just close
        return self.pending is None and super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pending is None:
            super().connection_lost(exc)


async def start(target: tuple[str, int], host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """Listen on ``host:port`` (0: any free port) and relay every connection to ``target``."""
    return await asyncio.get_running_loop().create_server(lambda: Client(target), host, port, backlog=4096)


async def _main(args: argparse.Namespace) -> None:
    host, _, port = args.target.rpartition(":")
    server = await start((host or "127.0.0.1", int(port)), args.host, args.port)
    print(orjson.dumps({"port": server.sockets[0].getsockname()[1]}).decode(), flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="host:port to relay to")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        run(_main(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
