"""The composition root: builds the link, the tool executor, the decider and the view, then runs a conversation.

``run`` is the non-interactive entry point (one message, one turn, a :class:`Transcript` back) that scripts and
end-to-end tests drive; ``chat`` is the interactive loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from codelab_chat.conversation import Conversation
from codelab_chat.decisions import Decider, FlagDecider, PromptDecider, TerminalInput
from codelab_chat.link import LinkClosed, ReconnectPolicy, SessionLink, new_session_id
from codelab_chat.sessions import SessionsUnavailable, agent_names, session_history
from codelab_chat.tools.executor import ToolExecutor
from codelab_chat.tools.limits import ToolLimits
from codelab_chat.transcript import Transcript, Turn
from codelab_chat.views import JsonView, RichView, View, escape, render_history
from codelab_chat.workspace import Workspace

_HELP = """/agent NAME   switch agent and pin it for later messages (/agent alone lists the agents)
/session      show the session id (continue it later with --session)
/quit         leave (Ctrl-D too)"""


@dataclass(frozen=True)
class ChatOptions:
    """Everything the command line can set; the defaults are the zero-config local start."""

    url: str = "ws://127.0.0.1:8000"
    token: str | None = None
    workspace: str = "."
    session: str | None = None
    agent: str | None = None
    auto_approve: bool = False
    auto_reject: bool = False
    approve_plans: bool = False
    json: bool = False
    idle_timeout: float = 600.0
    max_reconnects: int = 10
    reconnect_delay: float = 0.2
    limits: ToolLimits = field(default_factory=ToolLimits)


async def run(
    message: str,
    options: ChatOptions,
    *,
    out: Console | None = None,
    info: Console | None = None,
    decider: Decider | None = None,
) -> Transcript:
    """Send one message and run its turn to the end, answering tool calls, approvals and plans per ``options``."""
    out = out or Console(file=sys.stdout)
    info = info or Console(file=sys.stderr)
    view = _view(options, out, info)
    decider = decider or FlagDecider(options.auto_approve, options.auto_reject, options.approve_plans)
    transcript = Transcript()
    try:
        async with _conversation(options, view, decider) as conversation:
            transcript.turns.append(await conversation.say(message, options.agent))
            transcript.session_id = conversation.link.session_id
            transcript.reconnects = conversation.link.reconnects
    except LinkClosed as exc:
        transcript.turns.append(Turn(errors=[str(exc)], fatal=True))
        view.notice(f"error: {exc}")
    return transcript


async def chat(options: ChatOptions, *, console: Console | None = None) -> int:
    """The interactive loop: read a line, run its turn, repeat; ``/help`` lists the commands. Returns the exit code."""
    console = console or Console()
    terminal = TerminalInput(console)
    view = _view(options, console, console if not options.json else Console(file=sys.stderr))
    try:
        decider = PromptDecider(terminal, Workspace(options.workspace))
        async with _conversation(options, view, decider, patient=True) as conversation:
            console.print(
                f"[bold]codelab-chat[/] · {escape(options.url)} · workspace {conversation.executor.workspace.root}\n"
                "[dim]Type a message; /help for commands; Ctrl-C cancels a running turn; Ctrl-D quits.[/]"
            )
            if options.session:
                await _show_history(console, options)
            return await _loop(conversation, terminal, options)
    except LinkClosed as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        return 1


async def _show_history(console: Console, options: ChatOptions) -> None:
    assert options.session is not None
    try:
        messages = await session_history(options.url, options.session, options.token)
    except SessionsUnavailable as exc:
        console.print(f"[dim]history not shown: {escape(str(exc))}[/]")
        return
    render_history(console, messages)


async def _loop(conversation: Conversation, terminal: TerminalInput, options: ChatOptions) -> int:
    agent = options.agent
    console = terminal.console
    while True:
        try:
            line = (await terminal.ask("[bold green]you>[/] ")).strip()
        except EOFError:
            return 0
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return 0
        if line == "/help":
            console.print(_HELP, markup=False)
            continue
        if line == "/session":
            console.print(conversation.link.session_id)
            continue
        if line == "/agent" or line.startswith("/agent "):
            wanted = line[len("/agent") :].strip()
            if not await known_agent(console, options, wanted):
                continue
            agent = wanted
            turn = await _interruptible(conversation, conversation.switch_agent(agent))
        else:
            turn = await _interruptible(conversation, conversation.say(line, agent))
        if turn.fatal:
            # Never leave on our own: say what happened; the next message reconnects (the link never gives up).
            conversation.view.notice(f"that turn ended early: {turn.errors[-1] if turn.errors else 'connection lost'}")


async def known_agent(console: Console, options: ChatOptions, wanted: str) -> bool:
    """True when ``wanted`` names an agent of this gateway; otherwise say which ones there are. When the list cannot
    be fetched the name goes out as typed (the gateway then answers for it)."""
    try:
        names = await agent_names(options.url, options.token)
    except SessionsUnavailable as exc:
        if not wanted:
            console.print(f"[dim]the agents could not be listed: {escape(str(exc))}[/]")
        return bool(wanted)
    if wanted in names:
        return True
    if wanted:
        console.print(f"[red]unknown agent {escape(repr(wanted))}.[/] Agents: {escape(', '.join(names))}")
    else:
        console.print(f"Agents: {escape(', '.join(names))} — /agent NAME switches")
    return False


async def _interruptible(conversation: Conversation, exchange: Coroutine[Any, Any, Turn]) -> Turn:
    """Run an exchange with Ctrl-C bound to ``cancel``; a second Ctrl-C stops waiting for the turn altogether."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(exchange)
    cancels: list[asyncio.Future[None]] = []  # held so the cancel task is not garbage-collected mid-send
    presses = 0

    def interrupt() -> None:
        nonlocal presses
        presses += 1
        if presses == 1 and (conversation.resending or not conversation.link.connected):
            task.cancel()  # nothing is running that a cancel could stop: stop waiting at once
        elif presses == 1:
            conversation.view.notice("cancelling the turn (Ctrl-C again to stop waiting)")
            cancels.append(asyncio.ensure_future(conversation.cancel()))
        else:
            task.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        return await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
        conversation.view.close()
        for text in conversation.abandon():
            conversation.view.notice(f"not sent (↑ brings it back): {text}")
        return Turn(errors=["stopped waiting for the turn"])
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


@contextlib.asynccontextmanager
async def _conversation(
    options: ChatOptions, view: View, decider: Decider, *, patient: bool = False
) -> AsyncIterator[Conversation]:
    """``patient`` (interactive): reconnect and re-send undelivered frames until the person quits; otherwise up to
    ``max_reconnects`` attempts."""
    workspace = Workspace(options.workspace)
    policy = ReconnectPolicy(
        attempts=None if patient else options.max_reconnects, initial_delay=options.reconnect_delay
    )
    link = SessionLink(
        options.url,
        options.session or new_session_id(),
        token=options.token,
        policy=policy,
        on_notice=view.notice,
        on_progress=view.busy,
    )
    await link.open()
    try:
        yield Conversation(
            link,
            ToolExecutor(workspace, options.limits),
            decider,
            view,
            idle_timeout=options.idle_timeout,
        )
    finally:
        await link.close()


def _view(options: ChatOptions, out: Console, info: Console) -> View:
    return JsonView(out, info) if options.json else RichView(out, info)
