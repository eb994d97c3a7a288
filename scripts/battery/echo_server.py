"""An echo WebSocket app served exactly as the gateway is served (``gateway.server.server_config``: uvicorn, uvloop,
httptools, wsproto with the gateway's close-code fix, no deflate, the 1 MiB frame limit), for the conformance run.

``python echo_server.py`` prints ``{"port": N}`` once it listens; logs go to stderr at DEBUG.
"""

from __future__ import annotations

import json
import socket
import sys
from types import SimpleNamespace
from typing import Any

from gateway.server import GatewayServer, server_config
from gateway.settings import Settings
from service_kit.logs import configure_logging


class EchoApp:
    """Echo every message back with its type (text stays text, bytes stay bytes)."""

    state = SimpleNamespace()  # GatewayServer.shutdown looks for the gateway's context here (there is none)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await echo(scope, receive, send)


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            # Text goes out through the gateway's batched writer, the path every relayed frame takes.
            await scope["extensions"]["gateway.text_frames"]([message["text"].encode()])
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


def main() -> None:
    settings = Settings(internal_api_key="echo-server-key-0123456789", log_level="DEBUG", port=0)
    configure_logging("echo", "DEBUG", settings.secrets(), stream=sys.stderr)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    app = EchoApp()
    GatewayServer(server_config(app, settings), app).run(sockets=[sock])  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
