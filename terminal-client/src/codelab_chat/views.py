"""How frames reach the person or the script: rich rendering, or one JSON object per line.

In a terminal the reply streams into a rich ``Live`` area rendered as Markdown, replaced by the final message when
it arrives. Elsewhere (a pipe, a file) tokens are written as plain text; when the final message arrives only the
part not yet written is added, so after a reconnect that skipped some deltas the text still appears exactly once.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.markup import escape as escape_markup
from rich.panel import Panel
from rich.status import Status
from rich.text import Text

from codelab_chat.transcript import ToolRun

Frame = dict[str, Any]


# C0 (except tab and newline), DEL and C1: a model's text must not drive the terminal (colours, cursor, title).
_CONTROLS = dict.fromkeys([*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)])


def clean(text: str) -> str:
    """``text`` without terminal control characters."""
    return text.translate(_CONTROLS)


def escape(text: str) -> str:
    """``text`` safe to embed in rich markup and to show on a terminal."""
    return escape_markup(clean(text))


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class View(Protocol):
    """Receives every inbound frame and the client's own events."""

    def show(self, frame: Frame) -> None:
        """An inbound frame from the gateway."""
        ...

    def tool_ran(self, run: ToolRun) -> None:
        """A tool call the client answered."""
        ...

    def notice(self, text: str) -> None:
        """Something the client did on its own (reconnecting, refusing a call by flag)."""
        ...

    def busy(self, text: str) -> None:
        """The client is waiting or working (a spinner in a terminal) until the next frame is shown."""
        ...

    def close(self) -> None:
        """Stop any live area."""
        ...


class JsonView:
    """Every inbound frame verbatim as one JSON line on ``out``; notices go to ``info`` (stderr)."""

    def __init__(self, out: Console, info: Console) -> None:
        self.out = out
        self.info = info

    def show(self, frame: Frame) -> None:
        self.out.file.write(orjson.dumps(frame).decode() + "\n")
        self.out.file.flush()

    def tool_ran(self, run: ToolRun) -> None:
        outcome = "error" if run.error is not None else "ok"
        self.info.print(f"tool {run.tool_name} ({run.decision}): {outcome}", markup=False, highlight=False)

    def notice(self, text: str) -> None:
        self.info.print(text, markup=False, highlight=False)

    def busy(self, text: str) -> None:
        return None

    def close(self) -> None:
        return None


class RichView:
    """The reply on ``out``; everything around it (tools, agents, plans, usage) on ``info``."""

    def __init__(self, out: Console, info: Console) -> None:
        self.out = out
        self.info = info
        self._buffer = ""
        self._live: Live | None = None
        self._spinner: Status | None = None

    def busy(self, text: str) -> None:
        if not self.info.is_terminal or self._live is not None:
            return
        if self._spinner is None:
            self._spinner = self.info.status(text, spinner="dots")
            self._spinner.start()
        else:
            self._spinner.update(text)

    def _idle(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None

    def show(self, frame: Frame) -> None:
        self._idle()
        kind = frame.get("type")
        if kind == "assistant_message":
            self._message(frame)
            return
        if kind == "message_reset":
            self._reset()
            return
        self._end_live()
        render = _RENDERERS.get(str(kind))
        if render is not None:
            render(self.info, frame)

    def _message(self, frame: Frame) -> None:
        if frame.get("is_final") is False:
            token = frame.get("token")
            if isinstance(token, str) and token:
                self._delta(clean(token))
            return
        content = frame.get("content")
        self._final(clean(content) if isinstance(content, str) else "")

    def _delta(self, token: str) -> None:
        self._buffer += token
        if not self.out.is_terminal:
            self.out.file.write(token)
            self.out.file.flush()
        elif self._live is None:
            # Markdown is parsed once per refresh, not once per token.
            self._live = Live(console=self.out, refresh_per_second=10, get_renderable=lambda: Markdown(self._buffer))
            self._live.start()

    def _reset(self) -> None:
        """The runtime replica streaming the answer died and another one starts it again (doc/protocol.md): the
        live area forgets the partial text; in plain output it stays and the new attempt starts on its own line."""
        if self._buffer and not self.out.is_terminal:
            self.out.file.write("\n")
            self.out.file.flush()
        self._buffer = ""

    def _final(self, content: str) -> None:
        if self.out.is_terminal:
            self._buffer = content
            if self._live is None:
                self.out.print(Markdown(content))
            self._end_live()
        else:
            missing = content[len(self._buffer) :] if content.startswith(self._buffer) else "\n" + content
            self.out.file.write(missing + "\n")
            self.out.file.flush()
        self._buffer = ""

    def _end_live(self) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    def tool_ran(self, run: ToolRun) -> None:
        self._idle()
        self._end_live()
        if run.error is not None:
            self.info.print(f"  [red]✗ {escape(run.tool_name)}:[/] {escape(run.error)}")
            return
        self.info.print(f"  [green]✓ {escape(run.tool_name)}[/] [dim]{escape(_summary(run))}[/]")
        for line in preview(run):
            self.info.print(f"    [dim]│ {escape(line)}[/]", highlight=False)

    def notice(self, text: str) -> None:
        self._idle()
        # Mid-reply (a reconnect, a cancel) the live area stays: rich prints the line above it, and the reply
        # is not drawn a second time below the notice.
        console = self.out if self._live is not None else self.info
        console.print(f"[dim]{escape(text)}[/]")

    def close(self) -> None:
        self._idle()
        self._end_live()


DIFF_LINES = 200
_DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"), ("\\", "dim"))


def render_diff(console: Console, diff: str, limit: int = DIFF_LINES) -> None:
    """A unified diff, coloured like git's (additions green, removals red, hunks cyan), at most ``limit`` lines."""
    lines = diff.splitlines()
    for line in lines[:limit]:
        style = next((style for prefix, style in _DIFF_STYLES if line.startswith(prefix)), "")
        console.print(Text(clean(line), style=style), highlight=False, soft_wrap=True)
    if len(lines) > limit:
        console.print(f"[dim]… {len(lines) - limit} more diff lines[/]")


def render_history(console: Console, messages: list[dict[str, Any]], last: int = 6) -> None:
    """The tail of a continued session: the last user and assistant messages with text."""
    spoken = [m for m in messages if m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)]
    if len(spoken) > last:
        console.print(f"[dim]… {len(spoken) - last} earlier messages[/]")
    for message in spoken[-last:]:
        if message["role"] == "user":
            console.print(f"[bold green]you>[/] {escape(message['content'])}")
        else:
            console.print(Markdown(clean(message["content"])))


PREVIEW_LINES = 4
PREVIEW_WIDTH = 120


def preview(run: ToolRun) -> list[str]:
    """A few lines of what a tool gave the agent (the file read, the command's output, the entries or matches
    found), each cut to a terminal line, with a last line saying how much more there was."""
    lines = _output_lines(run.result or {})
    shown = [line[:PREVIEW_WIDTH] + ("…" if len(line) > PREVIEW_WIDTH else "") for line in lines[:PREVIEW_LINES]]
    if len(lines) > PREVIEW_LINES:
        shown.append(f"… {len(lines) - PREVIEW_LINES} more")
    return shown


def _output_lines(result: dict[str, Any]) -> list[str]:
    if isinstance(result.get("content"), str):  # read_file
        return str(result["content"]).splitlines()
    if isinstance(result.get("stdout"), str) or isinstance(result.get("stderr"), str):
        return [*str(result.get("stdout") or "").splitlines(), *str(result.get("stderr") or "").splitlines()]
    if isinstance(result.get("items"), list):  # list_files
        items = [item for item in result["items"] if isinstance(item, dict)]
        return [f"{item.get('path')}{'/' if item.get('type') == 'directory' else ''}" for item in items]
    if isinstance(result.get("matches"), list):  # search_in_code
        matches = [match for match in result["matches"] if isinstance(match, dict)]
        return [f"{m.get('file')}:{m.get('line')}: {str(m.get('line_content') or '').strip()}" for m in matches]
    return []


def _summary(run: ToolRun) -> str:
    result = run.result or {}
    for key in ("exit_code", "bytes_written", "lines_read", "total_count", "total_matches"):
        if key in result:
            return f"{key.replace('_', ' ')}: {result[key]}"
    return run.decision


def _tool_call(console: Console, frame: Frame) -> None:
    arguments = orjson.dumps(frame.get("arguments") or {}).decode()
    if len(arguments) > 200:
        arguments = arguments[:200] + "…"
    gate = " [yellow](needs approval)[/]" if frame.get("requires_approval") else ""
    console.print(f"[cyan]⚙ {escape(str(frame.get('tool_name')))}[/] [dim]{escape(arguments)}[/]{gate}")


def _tool_refused(console: Console, frame: Frame) -> None:
    """A call the runtime's guardrails refused (it never reached this client); the agent got the reason too."""
    rule = _object(frame.get("metadata")).get("rule")
    reason = str(frame.get("content") or "refused")
    console.print(
        f"[bold red]⊘ refused {escape(str(frame.get('tool_name')))}[/]: {escape(reason)}"
        + (f" [dim](rule {escape(str(rule))})[/]" if rule else "")
    )


def _agent_switched(console: Console, frame: Frame) -> None:
    reason = f" — {frame['reason']}" if frame.get("reason") else ""
    text = f"agent: {frame.get('from_agent')} → {frame.get('to_agent')}{reason}"
    console.print(f"[magenta]{escape(text)}[/]")


def _plan(console: Console, frame: Frame) -> None:
    summary = _object(frame.get("plan_summary"))
    lines = [f"[bold]{escape(str(summary.get('goal') or frame.get('content') or 'Plan'))}[/]"]
    for number, subtask in enumerate(summary.get("subtasks") or [], start=1):
        if isinstance(subtask, dict):
            title = subtask.get("title") or subtask.get("description") or subtask.get("id")
            agent = f" [dim]({subtask['agent']})[/]" if subtask.get("agent") else ""
            lines.append(f"{number}. {escape(str(title))}{agent}")
        else:
            lines.append(f"{number}. {escape(str(subtask))}")
    if summary.get("total_estimated_time"):
        lines.append(f"[dim]estimated: {escape(str(summary['total_estimated_time']))}[/]")
    console.print(Panel("\n".join(lines), title="plan approval required", border_style="yellow"))


def _plan_progress(console: Console, frame: Frame) -> None:
    metadata = _object(frame.get("metadata"))
    status = f" [{metadata['status']}]" if metadata.get("status") else ""
    console.print(f"[blue]plan:{escape(status)} {escape(str(frame.get('content') or ''))}[/]")


def _status(console: Console, frame: Frame) -> None:
    console.print(f"[dim]… {escape(str(frame.get('content') or ''))}[/]")


def _error(console: Console, frame: Frame) -> None:
    console.print(f"[bold red]error:[/] {escape(str(frame.get('content') or frame.get('error') or 'error'))}")


def _done(console: Console, frame: Frame) -> None:
    if frame.get("stop_reason") in _PAUSES:
        return  # the run waits for this client's answer and goes on; its usage shows when it ends
    usage = _object(frame.get("usage"))
    tokens = ""
    if usage:
        tokens = f" · tokens {usage.get('prompt_tokens', 0)} in / {usage.get('completion_tokens', 0)} out"
    console.print(f"[dim]— {escape(str(frame.get('stop_reason') or 'done'))}{tokens}[/]")


_PAUSES = frozenset({"tool_call", "approval", "plan_approval"})
_RENDERERS = {
    "tool_call": _tool_call,
    "tool_refused": _tool_refused,
    "agent_switched": _agent_switched,
    "plan_approval_required": _plan,
    "plan_progress": _plan_progress,
    "status": _status,
    "error": _error,
    "done": _done,
}
