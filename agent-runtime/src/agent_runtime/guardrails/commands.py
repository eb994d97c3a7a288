"""The command policy: a command line, read as the shell reads it (:mod:`shell`), is denied, asked or allowed.

1. **Deny** (never run, in any disguise): the destructive list (``sudo``, ``su``, ``doas``, ``pkexec``, ``mkfs*``,
   ``shutdown``, ``reboot``, ``halt``, ``poweroff``, ``init 0|6``, ``systemctl poweroff|reboot|halt``, ``format``,
   ``diskpart``, recursive ``rm`` of ``/``, ``~``, ``$HOME``, ``.``, ``..``, ``*`` or a directory right below ``/``
   or ``~``, ``dd of=/dev/…``, ``chmod``/``chown -R`` of ``/``, fork bombs, a download run by a shell) plus
   configured prefixes. It is checked on every command of the line, nested ones included, with words resolved as the
   shell would (``s\\udo``, ``$'\\x73udo'``, ``"sudo"``, ``/usr/bin/sudo``), behind wrappers (``env``, ``nice``,
   ``timeout``, ``xargs``, ``command``, ``builtin``, ``exec``, ``nohup``, ``time``, ``stdbuf``, ``ionice``,
   ``setsid``, ``chroot``, ``watch``, ``find -exec``), in the script of ``sh -c``/``bash -c``/``su -c``/``eval``,
   and as words of inline interpreter code (``python -c``, ``perl -e``, ``node -e``…). ``command -v``/``-V``
   only names programs and runs none, so ``command -v sudo`` is not denied (``command sudo reboot`` is).
2. **Ask**: any hazard of the reading (globs, brace/tilde/variable expansion, substitutions, redirects (even to
   ``/dev/null``), comments, assignments, here-strings, groups, unparsable syntax), any command not on the read-only
   list (wrappers and interpreters never are), a writing option, a recursive content read (``grep -r``, ``diff
   -r``), and any path argument (plain, ``-f/x``, ``--opt=/x``, git's ``REV:path`` and ``:path``) outside the
   project or secret.
3. **Allow**: everything else, i.e. only commands the reading fully understood.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from agent_runtime.guardrails.decisions import GATED, Allow, Ask, Deny, PolicyDecision
from agent_runtime.guardrails.permissions import UnsafePath, normalise_path
from agent_runtime.guardrails.rules import Rules
from agent_runtime.guardrails.secrets import is_glob, pattern_may_match_secret, secret_path
from agent_runtime.guardrails.shell import ShellReading, SimpleCommand, read_command_line

Prefix = tuple[str, ...]
NO_RULES = Rules()
NOT_LISTED = "command:not-listed"

DEFAULT_READ_ONLY_COMMANDS = (
    "ls", "pwd", "cat", "head", "tail", "wc", "echo", "which", "file", "stat", "du", "df", "tree", "basename",
    "dirname", "uname", "whoami", "true", "nl", "cmp", "diff", "grep", "egrep", "fgrep", "find", "sort",
    "git status", "git diff", "git log", "git show", "git rev-parse", "git branch --list", "git branch --show-current",
    "git blame", "git ls-files", "git remote -v", "git tag --list", "command -v", "command -V", "type",
    "flutter analyze", "flutter doctor", "flutter --version", "dart analyze", "dart --version", "fvm list",
    "python --version", "python3 --version", "node --version", "npm --version",
)  # fmt: skip
DEFAULT_DENIED_COMMANDS = (
    "sudo", "su", "doas", "pkexec", "mkfs", "shutdown", "reboot", "halt", "poweroff", "init 0", "init 6",
    "systemctl poweroff", "systemctl reboot", "systemctl halt", "format", "diskpart", "chown -R /", "chmod -R 777 /",
)  # fmt: skip
# Options that make an otherwise read-only command write files or run programs.
_WRITING_OPTIONS = (
    "--output", "--write", "--exec", "--pre", "--ext-diff", "--textconv", "--config", "--compress-program",
    "-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf", "-fls",
)  # fmt: skip
_RECURSIVE_READERS = frozenset({"grep", "egrep", "fgrep", "diff"})
_NO_PATH_ARGUMENTS = frozenset({"echo"})
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "busybox", "ash", "csh", "tcsh"})
_INTERPRETERS = frozenset(
    {"python", "python2", "python3", "perl", "ruby", "node", "nodejs", "deno", "bun", "php", "lua", "pwsh",
     "powershell", "osascript", "awk", "gawk", "mawk", "nawk", "tclsh", "Rscript"}
)  # fmt: skip
_SCRIPT_RUNNERS = _SHELLS | _INTERPRETERS | {"eval", "source", ".", "exec"}
_DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c", "nc", "ncat", "socat"})
# Wrappers that run the rest of their arguments as a command; with the options whose value is a separate word.
_WRAPPERS: dict[str, frozenset[str]] = {
    "env": frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "timeout": frozenset({"-s", "--signal", "-k", "--kill-after"}),
    "xargs": frozenset({"-n", "-I", "-i", "-P", "-d", "-L", "-l", "-s", "-a", "-E", "-e", "--max-args"}),
    "command": frozenset(),
    "builtin": frozenset(),
    "exec": frozenset({"-a"}),
    "nohup": frozenset(),
    "time": frozenset({"-f", "-o"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "ionice": frozenset({"-c", "-n", "-p"}),
    "setsid": frozenset(),
    "chroot": frozenset(),
    "watch": frozenset({"-n", "--interval", "-d"}),
    "taskset": frozenset(),
    "unbuffer": frozenset(),
    "chrt": frozenset(),
    "flock": frozenset({"-w", "-E"}),
    "sudo": frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"}),
    "doas": frozenset({"-u", "-C"}),
    "su": frozenset(),
    "pkexec": frozenset({"--user"}),
    "strace": frozenset({"-o", "-e", "-p"}),
    "ltrace": frozenset({"-o", "-e", "-p"}),
}
_STRONG_WORDS = re.compile(
    r"\b(sudo|doas|pkexec|mkfs(\.\w+)?|shutdown|reboot|halt|poweroff|rm\s+-\w*[rR]\w*\s+/)(?!\w)"
)
_FORK_BOMB = re.compile(r"(\S+)\s*\(\)\s*\{[^}]*\1\s*\|\s*\1")


@dataclass(frozen=True, slots=True)
class CommandPolicy:
    """The command rules; :meth:`decide` is the interface. ``read_only`` and ``denied`` are word prefixes."""

    read_only: tuple[Prefix, ...] = tuple(tuple(c.split()) for c in DEFAULT_READ_ONLY_COMMANDS)
    denied: tuple[Prefix, ...] = tuple(tuple(c.split()) for c in DEFAULT_DENIED_COMMANDS)
    auto_approve_read_only: bool = True

    def decide(self, line: str, rules: Rules = NO_RULES, cwd: str = ".") -> PolicyDecision:
        """Deny, ask or allow ``line`` run in ``cwd`` (a normalised project path; relative path arguments are judged
        from there) (module docstring); configured ``rules`` come after the built-in deny list."""
        reading = read_command_line(line)
        denial = self.denial(reading, line)
        if denial is not None:
            return denial
        configured = rules.command(reading) if rules else None
        if isinstance(configured, Deny | Ask):
            return configured
        if reading.hazards:
            return Ask(f"the command contains {', '.join(reading.hazards)}", "command:hazard")
        if not reading.commands:
            return Ask("the command line runs nothing the policy recognises", "command:empty")
        problems = [problem for command in reading.commands for problem in self.problems(command, cwd)]
        if configured is not None:  # an allow rule lifts only "not on the read-only list"
            kept = [problem for problem in problems if problem.rule != NOT_LISTED]
            return kept[0] if kept else configured
        if not self.auto_approve_read_only:
            return Ask("commands need approval", GATED)
        return problems[0] if problems else Allow("command:read-only")

    def denial(self, reading: ShellReading, line: str, depth: int = 0) -> Deny | None:
        if _FORK_BOMB.search(line) or ":|:" in line.replace(" ", ""):
            return Deny("a fork bomb is never allowed", "deny:fork-bomb")
        for command in reading.commands:
            found = self._command_denial(command.words, depth)
            if found is not None:
                return found
        return _download_into_shell(reading)

    def _command_denial(self, words: tuple[str, ...], depth: int) -> Deny | None:
        if not words or depth > 8:
            return Deny("the command nests too deeply to be checked", "deny:nesting") if words else None
        program = _program(words[0])
        named = (program, *words[1:])
        for denied in self.denied:
            if _starts_with(named, denied):
                return Deny(f"'{' '.join(denied)}' is never allowed", f"deny:{' '.join(denied)}")
        found = _builtin_denial(program, words)
        if found is not None:
            return found
        for inner in _inner_commands(program, words):
            if isinstance(inner, str):
                found = self.denial(read_command_line(inner), inner, depth + 1)
            else:
                found = self._command_denial(tuple(inner), depth + 1)
            if found is not None:
                return found
        if program in _INTERPRETERS or program in _SHELLS:
            code = " ".join(words[1:])
            match = _STRONG_WORDS.search(code)
            if match is not None:
                return Deny(f"inline code runs '{match.group(1)}', which is never allowed", "deny:inline-code")
        return None

    def problems(self, command: SimpleCommand, cwd: str = ".") -> list[Ask]:
        """Why this command is not known to be read-only: paths outside the project or secret, recursive reads and
        writing options first, then not being on the read-only list; empty when it is read-only."""
        words = command.words
        prefix = next((p for p in self.read_only if words[: len(p)] == p), None)
        program = words[0]
        found: list[Ask] = []
        for word in words[len(prefix) if prefix is not None else 1 :]:
            if word.split("=", 1)[0] in _WRITING_OPTIONS or (program in ("sort", "tree") and word.startswith("-o")):
                found.append(Ask(f"the option '{word}' can write files or run programs", "command:writes"))
            if program in _RECURSIVE_READERS and _recursive(word):
                reason = f"'{word}' reads every file below a directory, secret files included"
                found.append(Ask(reason, "command:recursive-read"))
            if program in _NO_PATH_ARGUMENTS:
                continue
            for value in _path_candidates(word, program == "git"):
                problem = _path_problem(value, cwd)
                if problem is None and program == "git" and is_glob(value) and pattern_may_match_secret(value):
                    # git expands pathspecs itself, quoted or not: 'git log -p -- ".e*"' prints .env's history
                    problem = Ask(f"the git pathspec '{value}' could match secret files such as .env", "secret:pattern")
                if problem is not None:
                    found.append(problem)
        if prefix is None:
            found.append(Ask(f"'{' '.join(words[:2])}' is not on the read-only list", NOT_LISTED))
        elif prefix[-1] == "--version" and len(words) > len(prefix):
            found.append(Ask(f"'{' '.join(prefix)}' is allowed only on its own", NOT_LISTED))
        return found


def _program(word: str) -> str:
    """``/usr/bin/sudo`` and ``./sudo`` count as ``sudo``."""
    return word.rsplit("/", 1)[-1]


def _starts_with(words: tuple[str, ...], prefix: Prefix) -> bool:
    if len(words) < len(prefix) or words[: len(prefix) - 1] != prefix[:-1]:
        return False
    head, last = words[len(prefix) - 1], prefix[-1]
    if len(prefix) == 1:  # 'mkfs' also denies 'mkfs.ext4'
        return head == last or head.startswith(last + ".")
    return head == last


def _builtin_denial(program: str, words: tuple[str, ...]) -> Deny | None:
    arguments = words[1:]
    if program == "rm":
        recursive = any(
            w in ("--recursive", "-r", "-R") or (w.startswith("-") and not w.startswith("--") and "r" in w.lower())
            for w in arguments
        )
        if "--no-preserve-root" in arguments:
            return Deny("'rm --no-preserve-root' is never allowed", "deny:rm-root")
        targets = [w for w in arguments if not w.startswith("-")]
        if recursive and any(_precious(target) for target in targets):
            return Deny(
                "recursive removal of the root, home or project directory or of a top-level directory is never allowed",
                "deny:rm-recursive",
            )
    if program == "dd" and any(w.startswith("of=/dev/") for w in arguments):
        return Deny("writing to a raw device is never allowed", "deny:dd-device")
    recursive_mode = program in ("chmod", "chown", "chgrp") and any(w in ("-R", "--recursive") for w in arguments)
    if recursive_mode and any(w.rstrip("/") in ("", "~", "$HOME") for w in arguments if not w.startswith("-")):
        return Deny(f"recursive {program} of the root or home directory is never allowed", f"deny:{program}-root")
    return None


def _precious(target: str) -> bool:
    """The root, home or project directory, or a directory right below the root or home (``/usr``, ``~/*``)."""
    trimmed = target.strip()
    while trimmed.startswith("./"):
        trimmed = trimmed[2:]
    trimmed = trimmed.rstrip("/*")
    if trimmed in ("", "~", "$HOME", "${HOME}", ".", ".."):
        return True
    for root in ("/", "~/", "$HOME/", "${HOME}/"):
        if trimmed.startswith(root):
            return "/" not in trimmed[len(root) :].strip("/") or ".." in trimmed
    return False


def _inner_commands(program: str, words: tuple[str, ...]) -> Iterable[str | list[str]]:
    """The commands a wrapper, shell or ``find -exec`` runs: word lists, or script text to read again."""
    arguments = list(words[1:])
    if program in _SHELLS or program == "su":
        for index, word in enumerate(arguments):
            if word.startswith("-") and not word.startswith("--") and "c" in word and index + 1 < len(arguments):
                yield arguments[index + 1]
    if program in ("eval", "source", "."):
        yield " ".join(arguments)
    if program == "env":
        for index, word in enumerate(arguments):
            if word in ("-S", "--split-string") and index + 1 < len(arguments):
                yield arguments[index + 1]
            elif word.startswith("--split-string="):
                yield word.split("=", 1)[1]
    if program == "find":
        for index, word in enumerate(arguments):
            if word in ("-exec", "-execdir", "-ok", "-okdir"):
                yield arguments[index + 1 :]
    if program in _WRAPPERS and not _only_names_programs(program, arguments):
        # Every word that could start the wrapped command is tried: over-approximation only turns an ask into a
        # deny on lines that name a denied program after a wrapper.
        valued = _WRAPPERS[program]
        skip = False
        for index, word in enumerate(arguments):
            if skip:
                skip = False
                continue
            if word in valued:
                skip = True
                continue
            if not word.startswith("-"):
                yield arguments[index:]


def _only_names_programs(program: str, arguments: list[str]) -> bool:
    """``command -v``/``-V`` (also ``-pv``) prints what each name would run and runs none of them (POSIX). Only the
    options before the first name count: ``command sudo -v`` runs ``sudo``, ``command -- -v`` runs ``-v``."""
    if program != "command":
        return False
    for word in arguments:
        if word == "--" or not word.startswith("-"):
            return False
        if "v" in word or "V" in word:
            return True
    return False


def _download_into_shell(reading: ShellReading) -> Deny | None:
    downloads = any(_program(c.words[0]) in _DOWNLOADERS for c in reading.commands if c.words)
    if not downloads:
        return None
    for command in reading.commands:
        if not command.words or _program(command.words[0]) not in _SCRIPT_RUNNERS:
            continue
        source = command.piped_from
        while source is not None:
            if source.words and _program(source.words[0]) in _DOWNLOADERS:
                return Deny("running a download with a shell runs remote code and is never allowed", "deny:curl-sh")
            source = source.piped_from
        if not command.exact:  # sh <(curl …), bash -c "$(curl …)", eval "$(wget -O- …)"
            return Deny("running a download with a shell runs remote code and is never allowed", "deny:curl-sh")
    return None


def _recursive(word: str) -> bool:
    if word in ("--recursive", "--dereference-recursive", "--directories=recurse", "-d"):
        return True
    return word.startswith("-") and not word.startswith("--") and ("r" in word or "R" in word)


def _path_candidates(word: str, is_git: bool) -> list[str]:
    """The values in a word that name files: the word, an option's ``=value`` or glued short value, and for git the
    path of a ``REV:path`` or ``:path`` object name."""
    values: list[str] = []
    if word.startswith("--"):
        if "=" in word:
            values.append(word.split("=", 1)[1])
    elif word.startswith("-") and len(word) > 2:
        values.append(word[2:])
    elif not word.startswith("-"):
        values.append(word)
    if is_git:  # 'HEAD:.env' and ':.env' name the file '.env' of a commit or of the index
        values = [value.split(":", 1)[1] if ":" in value else value for value in values]
    return values


def _path_problem(value: str, cwd: str = ".") -> Ask | None:
    if cwd not in ("", ".") and not value.startswith(("/", "~")):
        value = f"{cwd}/{value}"
    if secret_path(value):
        return Ask(f"'{value}' may hold secrets, and what is read goes to the model", "secret:path")
    if "/" in value or ".." in value or value.startswith("~"):
        try:
            normalise_path(value)
        except UnsafePath:
            return Ask(f"'{value}' is outside the project", "command:outside")
    return None
