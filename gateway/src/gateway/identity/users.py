"""Mode ``local``: the users file (``GATEWAY__USERS_FILE``) and the directory the gateway checks logins against.

The file is JSON, written only by ``python -m gateway users …`` (atomically, mode 0600, one writer at a time) and
read by every gateway, which reloads it when it changes. It holds argon2id hashes, never a password::

    {"format": 1, "users": {"alice": {"password": "$argon2id$v=19$m=65536,t=3,p=4$…", "version": "…",
                                      "updated_at": "2026-11-22T08:00:00Z"}}}

A user's ``version`` is new with every password, so tokens issued under the old one stop working everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error

try:
    import fcntl
except ImportError:  # Windows: no advisory lock; one administrator at a time
    fcntl = None  # type: ignore[assignment]

_log = structlog.get_logger(__name__)
FORMAT = 1
MAX_NAME = 128
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class UsersFileError(Exception):
    """The users file cannot be read or written; the message names the file and never holds a hash."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password_hash: str
    version: str
    updated_at: str


def check_username(name: str) -> str:
    """A name that can be a subject: 1-128 printable characters, no surrounding spaces; ValueError otherwise."""
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"a username has 1 to {MAX_NAME} characters")
    if name != name.strip() or not name.isprintable():
        raise ValueError("a username has no surrounding spaces and no control characters")
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


class UsersFile:
    """Reading and (for the CLI) editing the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, User]:
        """Every user; none when the file does not exist yet."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise UsersFileError(f"{self.path}: cannot read the users file ({exc.strerror})") from None
        try:
            document = orjson.loads(raw)
            if document.get("format") != FORMAT:
                raise ValueError("unknown format")
            return {name: _user(name, entry) for name, entry in document["users"].items()}
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError):
            raise UsersFileError(f"{self.path}: not a users file of format {FORMAT}") from None

    @contextlib.contextmanager
    def editing(self) -> Iterator[dict[str, User]]:
        """The users, to change in place; written back atomically when the block ends without an error. Concurrent
        editors wait for each other (a lock file beside the users file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            users = self.load()
            yield users
            self._save(users)

    def _save(self, users: dict[str, User]) -> None:
        entries = {
            u.name: {"password": u.password_hash, "version": u.version, "updated_at": u.updated_at}
            for u in sorted(users.values(), key=lambda u: u.name)
        }
        body = orjson.dumps({"format": FORMAT, "users": entries}, option=orjson.OPT_INDENT_2)
        descriptor, aside = tempfile.mkstemp(dir=self.path.parent, prefix=".users-")  # mode 0600
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(body + b"\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(aside, self.path)  # readers see the old file or the new one, never half of one
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(aside)
            raise UsersFileError(f"{self.path}: cannot write the users file ({exc.strerror})") from None


def new_user(name: str, password: str, hasher: PasswordHasher) -> User:
    """A user with a fresh hash and a fresh version."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return User(check_username(name), hasher.hash(check_password(password)), secrets.token_urlsafe(12), stamp)


def _user(name: str, entry: dict[str, Any]) -> User:
    return User(name, str(entry["password"]), str(entry["version"]), str(entry.get("updated_at", "")))


class LocalDirectory:
    """``Directory`` over the users file: argon2id verification off the event loop, the file reloaded when it
    changes. An unreadable or broken file means no users at all (fail closed), logged once per change."""

    def __init__(self, file: UsersFile, hasher: PasswordHasher, *, concurrent_hashes: int = 2) -> None:
        self._file = file
        self._hasher = hasher
        # Verifying against this when the user does not exist costs what a wrong password costs.
        self._decoy = hasher.hash(secrets.token_urlsafe(16))
        self._hashing = asyncio.Semaphore(concurrent_hashes)  # each hash holds 64 MiB for ~50 ms
        self._seen: tuple[int, int, int] | None = None
        self._users: dict[str, User] = {}
        self._reload()

    @property
    def count(self) -> int:
        self._reload()
        return len(self._users)

    async def verify(self, username: str, password: str) -> str | None:
        user = self._current(username)
        async with self._hashing:
            matched = await asyncio.to_thread(self._matches, user.password_hash if user else self._decoy, password)
        return user.version if matched and user is not None else None

    def version_of(self, subject: str) -> str | None:
        user = self._current(subject)
        return user.version if user is not None else None

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except Argon2Error:  # a mismatch, or a hash this library cannot read
            return False

    def _current(self, name: str) -> User | None:
        self._reload()
        return self._users.get(name)

    def _reload(self) -> None:
        try:
            stat = self._file.path.stat()
            seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            seen = (0, 0, 0)
        except OSError:
            seen = (-1, -1, -1)
        if seen == self._seen:
            return
        self._seen = seen
        try:
            self._users = self._file.load()
        except UsersFileError as exc:
            self._users = {}
            _log.error("users file unusable: nobody can log in until it is fixed", error=str(exc))
            return
        _log.info("users file loaded", path=str(self._file.path), users=len(self._users))
