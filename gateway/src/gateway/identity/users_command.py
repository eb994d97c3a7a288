"""``python -m gateway users add|passwd|remove|list [NAME]``: manage the users of mode ``local``.

The password is read from stdin when stdin is not a terminal (one line: ``printf '%s\\n' "$PW" | … users add
alice``), and asked twice otherwise; it never appears on the command line, in the file or in a log. The file is
``--file`` or ``GATEWAY__USERS_FILE`` (environment or ``.env``). Running gateways pick up every change at once:
a changed password or a removed user ends that user's logins on every replica.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from argon2 import PasswordHasher
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.identity.users import UsersFile, UsersFileError, check_password, check_username, new_user


class UsersCommandSettings(BaseSettings):
    """Only what the command needs: it must run without the gateway's other settings (no internal key)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY__", env_file=".env", extra="ignore")
    users_file: str = Field("")


class CommandError(Exception):
    """A refusal to show on stderr (exit 1)."""


def run_users_command(arguments: list[str]) -> int:
    args = _parser().parse_args(arguments)
    try:
        path = args.file or UsersCommandSettings().users_file
        if not path:
            raise CommandError("name the users file: --file PATH or GATEWAY__USERS_FILE")
        print(_run(args.action, args.name, UsersFile(Path(path))))
    except (CommandError, UsersFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(action: str, name: str | None, file: UsersFile) -> str:
    if action == "list":
        return "\n".join(sorted(file.load()))
    if name is None:
        raise CommandError(f"'users {action}' needs a NAME")
    check_username(name)
    if action == "remove":
        with file.editing() as users:
            if users.pop(name, None) is None:
                raise CommandError(f"no user {name!r}")
        return f"removed {name}; their logins end now"
    password = _read_password()
    with file.editing() as users:
        if action == "add" and name in users:
            raise CommandError(f"user {name!r} exists; use 'users passwd {name}'")
        if action == "passwd" and name not in users:
            raise CommandError(f"no user {name!r}; use 'users add {name}'")
        users[name] = new_user(name, password, PasswordHasher())
    return f"added {name}" if action == "add" else f"password of {name} changed; their other logins end now"


def _read_password() -> str:
    if not sys.stdin.isatty():
        return check_password(sys.stdin.readline().rstrip("\r\n"))
    first = check_password(getpass.getpass("Password: "))
    if getpass.getpass("Password again: ") != first:
        raise CommandError("the passwords differ")
    return first


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway users", description="Manage the users of GATEWAY__AUTH_MODE=local."
    )
    parser.add_argument("action", choices=["add", "passwd", "remove", "list"])
    parser.add_argument("name", nargs="?", help="the username (it becomes the user's subject)")
    parser.add_argument("--file", help="the users file (default: GATEWAY__USERS_FILE)")
    return parser
