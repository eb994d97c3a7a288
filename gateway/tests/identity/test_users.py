"""The users file and the local directory: hashes only, atomic edits, reloads, the same cost for every refusal."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from gateway.identity.users import LocalDirectory, UsersFile, UsersFileError, check_username, new_user

# Fast parameters for the tests; the gateway uses argon2-cffi's defaults (RFC 9106, 64 MiB).
HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def add(file: UsersFile, name: str, password: str) -> None:
    with file.editing() as users:
        users[name] = new_user(name, password, HASHER)


def test_the_file_holds_argon2id_hashes_never_a_password_and_is_private(tmp_path: Path) -> None:
    file = UsersFile(tmp_path / "users.json")
    add(file, "alice", "correct horse battery")
    text = file.path.read_text()
    assert "correct horse battery" not in text
    assert json.loads(text)["users"]["alice"]["password"].startswith("$argon2id$")
    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".users-")]  # no temporary file left


def test_a_missing_file_is_no_users_and_a_broken_one_is_an_error_naming_the_file(tmp_path: Path) -> None:
    assert UsersFile(tmp_path / "none.json").load() == {}
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": 1, "users": {"alice": {}}}')
    with pytest.raises(UsersFileError, match=r"broken\.json"):
        UsersFile(broken).load()


def test_concurrent_editors_do_not_lose_each_others_users(tmp_path: Path) -> None:
    file = UsersFile(tmp_path / "users.json")
    threads = [threading.Thread(target=add, args=(file, f"user{i}", "password-123")) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(file.load()) == sorted(f"user{i}" for i in range(8))


@pytest.mark.parametrize("name", ["", " alice", "alice ", "a\tb", "a\nb", "x" * 129])
def test_a_username_must_be_usable_as_a_subject(name: str) -> None:
    with pytest.raises(ValueError, match="username"):
        check_username(name)


async def test_the_directory_verifies_and_follows_changes_to_the_file(tmp_path: Path) -> None:
    file = UsersFile(tmp_path / "users.json")
    add(file, "alice", "first-password")
    directory = LocalDirectory(file, HASHER)
    version = await directory.verify("alice", "first-password")
    assert version is not None
    assert directory.version_of("alice") == version
    assert await directory.verify("alice", "wrong-password") is None
    assert await directory.verify("nobody", "first-password") is None

    add(file, "alice", "second-password")  # what `users passwd` does
    assert directory.version_of("alice") not in (None, version)
    assert await directory.verify("alice", "first-password") is None
    assert await directory.verify("alice", "second-password") is not None

    with file.editing() as users:
        del users["alice"]
    assert directory.version_of("alice") is None


async def test_a_broken_file_lets_nobody_in(tmp_path: Path) -> None:
    file = UsersFile(tmp_path / "users.json")
    add(file, "alice", "first-password")
    directory = LocalDirectory(file, HASHER)
    assert directory.version_of("alice") is not None
    file.path.write_text("{ not json")
    assert directory.version_of("alice") is None
    assert await directory.verify("alice", "first-password") is None


async def test_an_unknown_user_costs_a_hash_like_a_wrong_password(tmp_path: Path) -> None:
    calls: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            calls.append(str(hash)[:9])
            return super().verify(hash, password)

    file = UsersFile(tmp_path / "users.json")
    add(file, "alice", "first-password")
    directory = LocalDirectory(file, Counting(time_cost=1, memory_cost=1024, parallelism=1))
    await directory.verify("alice", "wrong-password")
    await directory.verify("mallory", "wrong-password")
    assert calls == ["$argon2id", "$argon2id"]  # one full verification each, the same parameters
