"""``codelab-acp``: what an editor launches as its ACP agent (stdio); the agent is the CodeLab gateway.

    codelab-acp --url wss://codelab.example.com [--token TOKEN]

stdout carries only protocol messages; everything else goes to stderr. Exit codes: 0 when the editor closed stdin,
1 when the gateway refused the connection (close 1008: credentials, Origin; the editor's waiting requests are
answered with the reason first), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from codelab_acp import __version__
from codelab_acp.bridge import Bridge, Refused

LINE_LIMIT = 64 * 1024 * 1024  # one message per line; embedded files make long lines
DEFAULT_URL = "ws://127.0.0.1:8000"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="codelab-acp",
        description="An ACP agent on stdio for editors (Zed, JetBrains, Neovim, Emacs) that relays to the CodeLab "
        "gateway's /acp WebSocket, reconnecting and resuming when the connection drops.",
    )
    parser.add_argument("--version", action="version", version=f"codelab-acp {__version__}")
    parser.add_argument(
        "--url",
        default=os.environ.get("CODELAB_URL", DEFAULT_URL),
        help="gateway URL, ws(s):// or http(s):// (the /acp path is added when none is given; env CODELAB_URL)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("CODELAB_TOKEN"),
        help="bearer token sent as 'Authorization: Bearer' (env CODELAB_TOKEN, which keeps it out of `ps`)",
    )
    parser.add_argument("--log-level", default=os.environ.get("CODELAB_ACP_LOG", "WARNING"), help="stderr log level")
    options = parser.parse_args(argv)
    try:
        url = acp_url(options.url)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(stream=sys.stderr, level=options.log_level.upper(), format="codelab-acp: %(message)s")
    headers = {"Authorization": f"Bearer {options.token}"} if options.token else {}
    try:
        asyncio.run(_relay(url, headers))
    except KeyboardInterrupt:
        return 130
    except Refused as exc:
        print(f"codelab-acp: the gateway refused the connection: {exc}", file=sys.stderr)
        return 1
    return 0


def acp_url(url: str) -> str:
    """``ws(s)://host[:port][/path]``; http(s) becomes ws(s), and a URL without a path gets ``/acp``."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"--url must be ws://, wss://, http:// or https:// with a host, not {url!r}")
    path = parts.path if parts.path not in ("", "/") else "/acp"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


async def _relay(url: str, headers: dict[str, str]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)

    async def write(line: bytes) -> None:
        writer.write(line)
        await writer.drain()

    bridge = Bridge(url, headers, write)

    async def read_editor() -> None:
        while line := await reader.readline():
            if line.strip():
                await bridge.from_editor(line)
        bridge.editor_closed()

    relay, editor = asyncio.create_task(bridge.run()), asyncio.create_task(read_editor())
    try:
        await asyncio.wait({relay, editor}, return_when=asyncio.FIRST_COMPLETED)
        if editor.done():
            editor.result()
        await relay  # the editor left: the relay ends; or it ended first (Refused)
    finally:
        editor.cancel()
        bridge.editor_closed()
