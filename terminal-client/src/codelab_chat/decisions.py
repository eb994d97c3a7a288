"""Who answers approval-gated tool calls and plans: the person at the terminal, or the command-line flags."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
from rich.console import Console
from rich.syntax import Syntax

from codelab_chat.diffs import write_diff
from codelab_chat.views import escape, render_diff
from codelab_chat.workspace import Workspace

Frame = dict[str, Any]
REJECTED_BY_FLAGS = "Rejected by codelab-chat: approval-gated calls are refused without --auto-approve"
PLAN_REJECTED_BY_FLAGS = "Rejected by codelab-chat: plans are refused without --approve-plans"


@dataclass(frozen=True)
class ToolDecision:
    """``approve`` / ``edit`` (with ``arguments``) / ``reject`` (with ``feedback``)."""

    decision: Literal["approve", "edit", "reject"]
    arguments: dict[str, Any] | None = None
    feedback: str | None = None


@dataclass(frozen=True)
class PlanDecision:
    """``approve`` / ``reject`` / ``modify``, with optional feedback for the planner."""

    decision: Literal["approve", "reject", "modify"]
    feedback: str | None = None


class Decider(Protocol):
    """Answers the questions the agent asks the user."""

    async def decide_tool(self, call: Frame) -> ToolDecision:
        """The decision on a ``tool_call`` with ``requires_approval: true``."""
        ...

    async def decide_plan(self, plan: Frame) -> PlanDecision:
        """The decision on a ``plan_approval_required`` frame."""
        ...


@dataclass(frozen=True)
class FlagDecider:
    """Non-interactive answers: approve/reject everything as the flags say; without flags, refuse (the safe side)."""

    auto_approve: bool = False
    auto_reject: bool = False
    approve_plans: bool = False

    async def decide_tool(self, call: Frame) -> ToolDecision:
        if self.auto_approve and not self.auto_reject:
            return ToolDecision("approve")
        return ToolDecision("reject", feedback=REJECTED_BY_FLAGS)

    async def decide_plan(self, plan: Frame) -> PlanDecision:
        if self.approve_plans:
            return PlanDecision("approve")
        return PlanDecision("reject", feedback=PLAN_REJECTED_BY_FLAGS)


class LineInput(Protocol):
    """Where a person's answers come from."""

    console: Console

    async def ask(self, prompt: str) -> str:
        """One line typed in answer to ``prompt``; ``EOFError`` when input ended."""
        ...


class TerminalInput:
    """Line input that does not block the event loop, so the WebSocket keeps answering pings while a person thinks.

    A daemon thread (not the default executor) reads the line: a pending ``input()`` must not keep the process
    alive after Ctrl-C. In a terminal, readline gives line editing and a history: ↑ brings back what was typed,
    including a message that could not be sent.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        if console.is_terminal:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401 - loading it is what gives input() editing and history

    async def ask(self, prompt: str) -> str:
        """One line typed by the user; ``EOFError`` on Ctrl-D."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str] = loop.create_future()

        def read() -> None:
            try:
                line = input(self._prompt(prompt))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting coroutine
                loop.call_soon_threadsafe(_settle_error, answer, exc)
                return
            loop.call_soon_threadsafe(_settle, answer, line)

        threading.Thread(target=read, daemon=True).start()
        return await answer

    def _prompt(self, markup: str) -> str:
        """The prompt rendered for ``input()``, escape sequences wrapped in readline's invisible markers so that
        editing and history keep the cursor where it belongs."""
        with self.console.capture() as captured:
            self.console.print(markup, end="")
        return _ESCAPES.sub("\x01\\1\x02", captured.get())


_ESCAPES = re.compile(r"(\x1b\[[0-9;]*m)")


def _settle(future: asyncio.Future[str], line: str) -> None:
    if not future.done():
        future.set_result(line)


def _settle_error(future: asyncio.Future[str], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc if isinstance(exc, Exception) else EOFError())


class PromptDecider:
    """Asks the person at the terminal. A ``write_file`` is shown as a diff against the file in ``workspace``."""

    def __init__(self, terminal: LineInput, workspace: Workspace | None = None) -> None:
        self.terminal = terminal
        self.console = terminal.console
        self.workspace = workspace

    async def decide_tool(self, call: Frame) -> ToolDecision:
        arguments = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
        self.console.print(f"[bold yellow]Approval needed[/] for [bold]{escape(str(call.get('tool_name')))}[/]:")
        self._show(str(call.get("tool_name")), arguments or {})
        while True:
            choice = (await self.terminal.ask("(a)pprove / (e)dit arguments / (r)eject? ")).strip().lower()
            if choice in ("a", "approve", "y", "yes"):
                return ToolDecision("approve")
            if choice in ("r", "reject", "n", "no"):
                feedback = (await self.terminal.ask("Feedback for the agent (optional): ")).strip()
                return ToolDecision("reject", feedback=feedback or None)
            if choice in ("e", "edit"):
                edited = await self._edit(arguments or {})
                if edited is not None:
                    return ToolDecision("edit", arguments=edited)

    def _show(self, tool_name: str, arguments: dict[str, Any]) -> None:
        if tool_name == "write_file" and self.workspace is not None:
            diff = write_diff(self.workspace, arguments)
            render_diff(self.console, diff or f"(no change to {arguments.get('path')})")
            arguments = {key: value for key, value in arguments.items() if key not in ("path", "content")}
            if not arguments:
                return
        self.console.print(Syntax(orjson.dumps(arguments, option=orjson.OPT_INDENT_2).decode(), "json"))

    async def _edit(self, arguments: dict[str, Any]) -> dict[str, Any] | None:
        self.console.print("Enter the arguments as one line of JSON (empty line keeps them):")
        line = (await self.terminal.ask("> ")).strip()
        if not line:
            return arguments
        try:
            edited = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            self.console.print(f"[red]Not JSON:[/] {exc}")
            return None
        if not isinstance(edited, dict):
            self.console.print("[red]The arguments must be a JSON object.[/]")
            return None
        return edited

    async def decide_plan(self, plan: Frame) -> PlanDecision:
        while True:
            choice = (await self.terminal.ask("Plan: (a)pprove / (r)eject / (m)odify? ")).strip().lower()
            if choice in ("a", "approve", "y", "yes"):
                return PlanDecision("approve")
            if choice in ("r", "reject", "m", "modify", "n", "no"):
                decision: Literal["reject", "modify"] = "modify" if choice.startswith("m") else "reject"
                feedback = (await self.terminal.ask("Feedback for the planner: ")).strip()
                return PlanDecision(decision, feedback=feedback or None)
