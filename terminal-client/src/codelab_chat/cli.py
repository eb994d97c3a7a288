"""The ``codelab-chat`` command: interactive chat, one-shot ``-m`` for scripts, and ``sessions``.

Exit codes: 0 the turn completed; 1 an error (error frame, failed or cancelled turn, connection lost for good);
2 bad usage; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

import orjson
from rich.console import Console
from rich.table import Table

from codelab_chat import __version__
from codelab_chat.app import ChatOptions, chat, known_agent, run
from codelab_chat.sessions import SessionsUnavailable, list_sessions, session_exists
from codelab_chat.tools.limits import ToolLimits
from codelab_chat.views import escape

_DEFAULT_URL = "ws://127.0.0.1:8000"
_MAX_MESSAGE_BYTES = 900 * 1024


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        if arguments[:1] == ["sessions"]:
            return asyncio.run(_sessions(_sessions_parser().parse_args(arguments[1:])))
        return _chat(_chat_parser().parse_args(arguments))
    except KeyboardInterrupt:
        return 130


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("CODELAB_URL", _DEFAULT_URL),
        help="gateway base URL, ws(s):// or http(s):// (env CODELAB_URL; default %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("CODELAB_TOKEN"),
        help="bearer token sent as 'Authorization: Bearer' (env CODELAB_TOKEN, which keeps it out of `ps`)",
    )
    parser.add_argument("--json", action="store_true", help="print frames (or sessions) as JSON lines")


def _chat_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codelab-chat",
        description="Chat with CodeLab from the terminal; the IDE tools run in --workspace. "
        "`codelab-chat sessions` lists sessions.",
    )
    parser.add_argument("--version", action="version", version=f"codelab-chat {__version__}")
    _connection_options(parser)
    parser.add_argument("--workspace", default=".", help="folder the tools act on (default: current directory)")
    parser.add_argument("--session", help="continue this session id instead of starting a new one")
    parser.add_argument("--agent", help="force an agent by id (one the gateway lists: /agent inside the client)")
    parser.add_argument("-m", "--message", help="send one message, run the turn to its end, exit ('-' reads stdin)")
    gate = parser.add_mutually_exclusive_group()
    gate.add_argument("--auto-approve", action="store_true", help="-m: approve approval-gated tool calls")
    gate.add_argument("--auto-reject", action="store_true", help="-m: reject them (the default without a flag)")
    parser.add_argument("--approve-plans", action="store_true", help="-m: approve plans (default: reject)")
    parser.add_argument("--idle-timeout", type=float, default=600.0, help="seconds without a frame before giving up")
    parser.add_argument("--max-reconnects", type=int, default=10, help="-m: reconnect attempts after a drop")
    parser.add_argument(
        "--backups", action="store_true", help="let write_file keep <name>.bak copies (default: no stray copies)"
    )
    return parser


def _sessions_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codelab-chat sessions", description="List sessions (GET /api/v1/sessions).")
    _connection_options(parser)
    return parser


def _chat(args: argparse.Namespace) -> int:
    options = ChatOptions(
        url=args.url,
        token=args.token,
        workspace=args.workspace,
        session=args.session,
        agent=args.agent,
        auto_approve=args.auto_approve,
        auto_reject=args.auto_reject,
        approve_plans=args.approve_plans,
        json=args.json,
        idle_timeout=args.idle_timeout,
        max_reconnects=args.max_reconnects,
        limits=ToolLimits(keep_backups=args.backups),
    )
    if not os.path.isdir(options.workspace):
        print(f"codelab-chat: workspace is not a directory: {options.workspace}", file=sys.stderr)
        return 2
    if options.session and not asyncio.run(session_exists(options.url, options.session, options.token)):
        return _unknown_session(options)
    if options.agent and not asyncio.run(known_agent(Console(stderr=True), options, options.agent)):
        return 2
    if args.message is None:
        return asyncio.run(chat(options))
    message = sys.stdin.read() if args.message == "-" else args.message
    if not message.strip():
        print("codelab-chat: the message is empty", file=sys.stderr)
        return 2
    if len(message.encode("utf-8")) > _MAX_MESSAGE_BYTES:
        # The gateway would close the socket (1009) on a frame over its limit (1 MiB by default).
        print(f"codelab-chat: the message is over {_MAX_MESSAGE_BYTES // 1024} KiB", file=sys.stderr)
        return 2
    transcript = asyncio.run(run(message, options))
    return 0 if transcript.ok else 1


def _unknown_session(options: ChatOptions) -> int:
    """--session names no session of this user on this gateway: say so, and offer the ones there are."""
    console = Console(stderr=True)
    console.print(f"codelab-chat: there is no session {escape(repr(options.session))} at {escape(options.url)}.")
    try:
        sessions = asyncio.run(list_sessions(options.url, options.token))
    except SessionsUnavailable as exc:
        console.print(f"The sessions could not be listed: {escape(str(exc))}")
        return 2
    if sessions:
        console.print("Continue one of these with --session ID, or leave --session out to start a new one:")
        console.print(_sessions_table(sessions))
    else:
        console.print("There are no sessions yet: leave --session out to start one.")
    return 2


async def _sessions(args: argparse.Namespace) -> int:
    try:
        sessions = await list_sessions(args.url, args.token)
    except SessionsUnavailable as exc:
        print(f"codelab-chat: {exc}", file=sys.stderr)
        return 1
    if args.json:
        for session in sessions:
            sys.stdout.write(orjson.dumps(session).decode() + "\n")
        return 0
    Console().print(_sessions_table(sessions))
    return 0


def _sessions_table(sessions: list[dict[str, object]]) -> Table:
    table = Table("title", "agent", "messages", "last activity")
    # The id is what --session needs: never shorten or wrap it.
    table.add_column("id", no_wrap=True, min_width=max((len(str(s.get("id", ""))) for s in sessions), default=2))
    for session in sessions:
        cells = (
            session.get("title") or "",
            session.get("current_agent") or "",
            session.get("message_count", ""),
            session.get("last_activity") or session.get("updated_at") or "",
            session.get("id", ""),
        )
        table.add_row(*(escape(str(cell)) for cell in cells))  # titles are user text: no markup, no controls
    return table
