"""``python -m gateway users …`` as a real process: the password from stdin, the file never holding it, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def users(
    file: Path, *arguments: str, password: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY__")}
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "users", *arguments, *(["--file", str(file)] if env is None else [])],
        input="" if password is None else password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=file.parent,
    )
    return done.returncode, done.stdout.strip(), done.stderr.strip()


def test_add_passwd_remove_list(tmp_path: Path) -> None:
    file = tmp_path / "users.json"
    assert users(file, "add", "alice", password="s3cret-password")[0] == 0
    assert users(file, "add", "用户", password="another-password")[0] == 0
    assert users(file, "list") == (0, "alice\n用户", "")
    before = json.loads(file.read_text())["users"]["alice"]
    assert "s3cret-password" not in file.read_text()
    code, said, _ = users(file, "passwd", "alice", password="changed-password")
    assert code == 0
    assert "logins end" in said
    after = json.loads(file.read_text())["users"]["alice"]
    assert after["version"] != before["version"]
    assert after["password"] != before["password"]
    assert users(file, "remove", "用户")[0] == 0
    assert users(file, "list")[1] == "alice"


def test_the_file_can_come_from_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "from-env.json"
    code, _, _ = users(file, "add", "bob", password="bobs-password", env={"GATEWAY__USERS_FILE": str(file)})
    assert code == 0
    assert "bob" in json.loads(file.read_text())["users"]


@pytest.mark.parametrize(
    ("arguments", "password", "message"),
    [
        (["add", "alice"], "short", "8 to 1024 characters"),
        (["add", "alice"], "", "8 to 1024 characters"),
        (["add", " alice"], "long-enough-password", "surrounding spaces"),
        (["passwd", "nobody"], "long-enough-password", "no user 'nobody'"),
        (["remove", "nobody"], None, "no user 'nobody'"),
        (["add"], "long-enough-password", "needs a NAME"),
    ],
)
def test_refusals_are_one_clear_line_and_change_nothing(
    tmp_path: Path, arguments: list[str], password: str | None, message: str
) -> None:
    file = tmp_path / "users.json"
    code, _, error = users(file, *arguments, password=password)
    assert code == 1
    assert error.startswith("error: ")
    assert message in error
    assert not file.exists() or json.loads(file.read_text())["users"] == {}


def test_adding_an_existing_user_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "users.json"
    users(file, "add", "alice", password="first-password")
    code, _, error = users(file, "add", "alice", password="second-password")
    assert code == 1
    assert "use 'users passwd alice'" in error


def test_without_a_file_the_command_says_how_to_name_one(tmp_path: Path) -> None:
    code, _, error = users(tmp_path / "x.json", "list", env={})
    assert code == 1
    assert "GATEWAY__USERS_FILE" in error
