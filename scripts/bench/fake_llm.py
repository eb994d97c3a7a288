"""A fake LLM server for benchmarks and chaos tests: OpenAI, Anthropic and Ollama streaming on raw asyncio.

Routes: ``POST /v1/chat/completions`` (OpenAI SSE or JSON), ``GET /v1/models``, ``POST /v1/messages`` (Anthropic
SSE or JSON), ``POST /api/chat`` (Ollama NDJSON or JSON), ``GET /health``, ``GET /fake/stats`` (counters) and
``POST /fake/config`` (change the defaults at run time with a JSON object of knobs).

Knobs (CLI defaults; per request overridable by headers ``X-Fake-<Knob>`` such as ``X-Fake-TTFT-Ms``, or by a
directive anywhere in the last user message, ``[fake tokens=64 interval_ms=20 fault=500]``, which survives every
hop of a chain): ``ttft_ms``, ``interval_ms``, ``tokens``, ``burst`` (all tokens at once), ``fault`` (none, 429, 500,
503, stall, truncate, reset, malformed), ``fault_after`` (token index where mid-stream faults strike),
``retry_after`` (seconds, for 429), ``fault_rate`` (probability that the fault applies to a request).

Hand-written HTTP/1.1 with chunked responses and keep-alive: the fake must cost a tenth of the chain per token.
Prints one JSON line ``{"port": N}`` on stdout once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass

import orjson
from knobs import FAULTS, Knobs, directive_overrides, header_overrides
from stats import run
from wire_formats import AnthropicMessages, OllamaChat, OpenAIChat, WireFormat, token_text

__all__ = ["FAULTS", "FakeLLM", "Knobs", "start"]


@dataclass
class Counters:
    requests: int = 0
    tokens: int = 0
    faults: int = 0


class Response:
    """A chunked HTTP/1.1 response on one connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def start(self, status: int, content_type: str, extra: str = "") -> None:
        head = f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n"
        self.writer.write((head + "cache-control: no-cache\r\n" + extra + "\r\n").encode())

    def send(self, data: bytes) -> None:
        if data:
            self.writer.write(b"%x\r\n%b\r\n" % (len(data), data))

    def end(self) -> None:
        self.writer.write(b"0\r\n\r\n")

    def whole(self, status: int, body: bytes, extra: str = "") -> None:
        self.start(status, "application/json", extra)
        self.send(body)
        self.end()

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0), as a crashed upstream or a middlebox would."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


class FakeLLM:
    """The request handler; ``defaults`` may be replaced at run time through ``POST /fake/config``."""

    def __init__(self, defaults: Knobs, model: str = "fake-model", seed: int = 0) -> None:
        self.defaults = defaults
        self.model = model
        self.counters = Counters()
        self._random = random.Random(seed)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: requests in sequence while the client keeps it alive."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                keep = await self._route(method, target.split("?", 1)[0], headers, body, reader, Response(writer))
                if not keep or headers.get("connection", "").lower() == "close":
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        except Exception as exc:  # a bug here must show, but must not take the server down
            print(f"fake_llm: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _route(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, reader: asyncio.StreamReader, out: Response
    ) -> bool:
        if method == "GET" and path in ("/health", "/"):
            out.whole(200, b'{"status":"ok"}')
            return True
        if method == "GET" and path in ("/v1/models", "/models"):
            out.whole(200, orjson.dumps({"object": "list", "data": [{"id": self.model, "object": "model"}]}))
            return True
        if method == "GET" and path == "/fake/stats":
            out.whole(200, orjson.dumps({**asdict(self.counters), "defaults": asdict(self.defaults)}))
            return True
        if method == "POST" and path == "/fake/config":
            self.defaults = self.defaults.with_overrides({k: str(v) for k, v in orjson.loads(raw or b"{}").items()})
            out.whole(200, orjson.dumps(asdict(self.defaults)))
            return True
        formats: dict[str, type[OpenAIChat] | type[AnthropicMessages] | type[OllamaChat]] = {
            "/v1/chat/completions": OpenAIChat,
            "/chat/completions": OpenAIChat,
            "/v1/messages": AnthropicMessages,
            "/api/chat": OllamaChat,
        }
        if method != "POST" or path not in formats:
            out.whole(404, b'{"error":{"message":"not found","type":"not_found"}}')
            return True
        body = orjson.loads(raw or b"{}")
        knobs = self.defaults.with_overrides({**directive_overrides(body), **header_overrides(headers)})
        wire = formats[path](str(body.get("model") or self.model))
        stream = bool(body.get("stream", path == "/api/chat"))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return await self._complete(knobs, wire, stream, include_usage, reader, out)

    def _fault_for(self, knobs: Knobs) -> str:
        if knobs.fault == "none" or self._random.random() >= knobs.fault_rate:
            return "none"
        self.counters.faults += 1
        return knobs.fault

    async def _complete(
        self,
        knobs: Knobs,
        wire: WireFormat,
        stream: bool,
        include_usage: bool,
        reader: asyncio.StreamReader,
        out: Response,
    ) -> bool:
        self.counters.requests += 1
        fault = self._fault_for(knobs)
        if fault in ("429", "500", "503"):
            status = int(fault)
            extra = f"retry-after: {knobs.retry_after:g}\r\n" if status == 429 else ""
            out.whole(status, wire.error(status, f"fake fault {status}"), extra)
            return True
        if not stream:
            if fault == "reset":
                out.reset()
                return False
            await asyncio.sleep((knobs.ttft_ms + (0 if knobs.burst else knobs.interval_ms * (knobs.tokens - 1))) / 1e3)
            text = "".join(token_text(i, time.monotonic_ns()) for i in range(knobs.tokens))
            self.counters.tokens += knobs.tokens
            out.whole(200, wire.whole(text, knobs.tokens))
            return True
        return await self._stream(knobs, fault, wire, include_usage, reader, out)

    async def _stream(
        self,
        knobs: Knobs,
        fault: str,
        wire: WireFormat,
        include_usage: bool,
        reader: asyncio.StreamReader,
        out: Response,
    ) -> bool:
        out.start(200, wire.content_type)
        out.send(wire.head())
        loop = asyncio.get_running_loop()
        strike = knobs.fault_after if knobs.fault_after >= 0 else knobs.tokens // 2
        start = loop.time() + knobs.ttft_ms / 1e3
        interval = 0.0 if knobs.burst else knobs.interval_ms / 1e3
        transport = out.writer.transport
        for index in range(knobs.tokens):
            if fault != "none" and index == strike:
                return await self._strike(fault, wire, reader, out)
            delay = start + index * interval - loop.time()
            if delay > 0 or index == 0:
                await asyncio.sleep(max(delay, 0))
            out.send(wire.token(index, time.monotonic_ns()))
            self.counters.tokens += 1
            if transport.is_closing():
                return False
            if transport.get_write_buffer_size() > 1 << 16:
                await out.writer.drain()
        if fault != "none" and strike >= knobs.tokens:
            return await self._strike(fault, wire, reader, out)
        out.send(wire.tail(knobs.tokens, include_usage))
        out.end()
        return True

    async def _strike(self, fault: str, wire: WireFormat, reader: asyncio.StreamReader, out: Response) -> bool:
        if fault == "reset":
            out.reset()
            return False
        if fault == "truncate":
            out.end()
            return True
        if fault == "malformed":
            out.send(wire.malformed())
            out.send(wire.tail(0, False))
            out.end()
            return True
        # stall: keep the connection open and silent until the client gives up
        with contextlib.suppress(Exception):
            await reader.read()
        return False


async def start(host: str, port: int, defaults: Knobs, model: str = "fake-model") -> tuple[asyncio.Server, FakeLLM]:
    """Listen on ``host:port`` (0 = any free port) and return the server with its handler."""
    fake = FakeLLM(defaults, model)
    server = await asyncio.start_server(fake.serve, host, port, backlog=4096, limit=1 << 20)
    return server, fake


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port (printed as JSON on stdout)")
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--ttft-ms", type=float, default=Knobs.ttft_ms)
    parser.add_argument("--interval-ms", type=float, default=Knobs.interval_ms)
    parser.add_argument("--tokens", type=int, default=Knobs.tokens)
    parser.add_argument("--burst", action="store_true", help="send every token at once after the TTFT")
    parser.add_argument("--fault", choices=FAULTS, default="none")
    parser.add_argument("--fault-after", type=int, default=-1, help="token index of mid-stream faults (-1 = half)")
    parser.add_argument("--fault-rate", type=float, default=1.0, help="share of requests the fault applies to")
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--no-uvloop", action="store_true")
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> None:
    defaults = Knobs(
        args.ttft_ms, args.interval_ms, args.tokens, args.burst, args.fault, args.fault_after, args.retry_after,
        args.fault_rate,
    )  # fmt: skip
    server, _ = await start(args.host, args.port, defaults, args.model)
    print(orjson.dumps({"port": server.sockets[0].getsockname()[1]}).decode(), flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    with contextlib.suppress(KeyboardInterrupt):
        run(_main(args), uvloop=not args.no_uvloop)


if __name__ == "__main__":
    main()
