"""The whole path of one message: which source files and functions of the gateway, the agent runtime, the llm-proxy
and service-kit one warm v2 ``user_message`` crosses, from the gateway's socket to the llm-proxy and back to ``done``.

The three services run as uvicorn servers in this one process and event loop, on loopback ports (llm-proxy with its
mock model and no token delay, the runtime on SQLite in single-agent mode, the gateway with auth mode ``none``); a
real WebSocket client warms one session with a first message, then the second message is profiled
(``sys.setprofile`` and ``threading.setprofile``, installed before the services start so their threads are seen
too). Prints files and functions per package, then each file with its number of functions.

    .venv/bin/python scripts/bench/message_path.py [--list]

``PathCounter`` is the one implementation of the counting; ``agent-runtime/bench/message_path.py`` (the runtime's
part alone, with an in-process model) uses it too.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
import uvicorn
from websockets.asyncio.client import connect

KEY = "bench-internal-key-0123456789"
# Package → the part of a source path that marks it (tests, benches and installed libraries never match).
PACKAGES = {
    "gateway": "/gateway/src/gateway/",
    "agent_runtime": "/agent-runtime/src/agent_runtime/",
    "llm_proxy": "/llm-proxy/src/llm_proxy/",
    "service_kit": "/service-kit/src/service_kit/",
}


class PathCounter:
    """The (package, file, function) triples called while ``recording()`` is on, in this thread and in every thread
    started after ``install()``."""

    def __init__(self, packages: dict[str, str] = PACKAGES) -> None:
        self._packages = packages
        self._on = False
        self.functions: set[tuple[str, str, str]] = set()

    def _profile(self, frame: FrameType, event: str, _arg: Any) -> None:
        if self._on and event == "call":
            path = frame.f_code.co_filename
            for package, marker in self._packages.items():
                if marker in path:
                    self.functions.add((package, path.split("/src/", 1)[1], frame.f_code.co_name))
                    return

    @contextmanager
    def installed(self) -> Iterator[PathCounter]:
        sys.setprofile(self._profile)
        threading.setprofile(self._profile)
        try:
            yield self
        finally:
            sys.setprofile(None)
            threading.setprofile(None)

    @contextmanager
    def recording(self) -> Iterator[None]:
        self._on = True
        try:
            yield
        finally:
            self._on = False

    def files(self) -> dict[str, int]:
        """Each file crossed with its number of functions, sorted by path."""
        counts: dict[str, int] = {}
        for _, file, _ in self.functions:
            counts[file] = counts.get(file, 0) + 1
        return dict(sorted(counts.items()))

    def per_package(self) -> dict[str, tuple[int, int]]:
        """Files and functions crossed, per package (every package of the counter, crossed or not)."""
        return {
            package: (
                len({file for p, file, _ in self.functions if p == package}),
                sum(1 for p, _, _ in self.functions if p == package),
            )
            for package in self._packages
        }

    def report(self, listing: bool = True) -> str:
        total = len(self.files()), len(self.functions)
        lines = [f"{total[0]} files, {total[1]} functions"]
        lines += [
            f"  {package}: {files} files, {functions} functions"
            for package, (files, functions) in self.per_package().items()
        ]
        if listing:
            lines += [f"    {file} {count}" for file, count in self.files().items()]
        return "\n".join(lines)


def quiet_logging() -> None:
    """The services' logging as served (structlog, JSON, secrets redacted, INFO), written nowhere."""
    from service_kit.logs import configure_logging

    configure_logging("message-path", "INFO", (KEY,), stream=io.StringIO(), log_format="json")


def _listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def _reply(ws: Any) -> list[dict[str, Any]]:
    """The frames of one reply, up to and including ``done`` (an error frame ends it too)."""
    frames: list[dict[str, Any]] = []
    async for message in ws:
        frame = orjson.loads(message)
        frames.append(frame)
        if frame.get("type") in ("done", "error"):
            return frames
    raise RuntimeError(f"the socket closed before done: {frames}")


async def whole_chain(counter: PathCounter, data_dir: Path, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Run the three services, warm one session, record the second ``user_message``; returns its frames."""
    from agent_runtime.app import create_app as runtime_app
    from agent_runtime.settings import Settings as RuntimeSettings
    from gateway.app import create_app as gateway_app
    from gateway.server import GatewayServer, server_config
    from gateway.settings import Settings as GatewaySettings
    from llm_proxy.app import create_app as proxy_app
    from llm_proxy.settings import Settings as ProxySettings
    from service_kit.service import server_options

    quiet_logging()
    sockets = {name: _listening_socket() for name in ("llm-proxy", "agent-runtime", "gateway")}
    url = {name: f"http://127.0.0.1:{sock.getsockname()[1]}" for name, sock in sockets.items()}
    proxy = ProxySettings(internal_api_key=KEY, mock_token_delay_ms=0)
    runtime = RuntimeSettings(
        internal_api_key=KEY, llm_proxy_url=url["llm-proxy"], data_dir=data_dir, multi_agent_mode=False
    )
    gateway = GatewaySettings(internal_api_key=KEY, agent_url=url["agent-runtime"])
    proxy_app_, runtime_app_, gateway_app_ = proxy_app(proxy), runtime_app(runtime), gateway_app(gateway)
    servers = {
        "llm-proxy": uvicorn.Server(uvicorn.Config(proxy_app_, **server_options(proxy))),
        "agent-runtime": uvicorn.Server(uvicorn.Config(runtime_app_, **server_options(runtime))),
        "gateway": GatewayServer(server_config(gateway_app_, gateway), gateway_app_),
    }
    with counter.installed():  # before the servers start: threads they start are seen too
        return await _serve_and_record(counter, servers, sockets, url["gateway"], timeout)


async def _serve_and_record(
    counter: PathCounter,
    servers: dict[str, uvicorn.Server],
    sockets: dict[str, socket.socket],
    gateway_url: str,
    timeout: float,
) -> list[dict[str, Any]]:
    tasks = [asyncio.create_task(server.serve(sockets=[sockets[name]])) for name, server in servers.items()]
    try:
        async with asyncio.timeout(timeout):
            while not all(server.started for server in servers.values()):
                if any(task.done() for task in tasks):
                    raise RuntimeError("a service did not start")
                await asyncio.sleep(0.01)
            ws_url = gateway_url.replace("http", "ws") + "/api/v1/ws/path-bench?protocol=2"
            async with connect(ws_url) as ws:
                message = {"type": "user_message", "content": "hello there", "role": "user"}
                await ws.send(orjson.dumps(message).decode())
                await _reply(ws)  # warm: the session exists, connections are open, caches are filled
                message["content"] = "hello again"
                with counter.recording():
                    await ws.send(orjson.dumps(message).decode())
                    frames = await _reply(ws)
    finally:
        for server in servers.values():
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="also list each file with its number of functions")
    args = parser.parse_args()
    counter = PathCounter()
    with tempfile.TemporaryDirectory() as tmp:
        frames = asyncio.run(whole_chain(counter, Path(tmp)))
    if frames[-1].get("type") != "done":
        raise SystemExit(f"the reply did not end with done: {frames[-1]}")
    print(counter.report(listing=args.list))


if __name__ == "__main__":
    main()
