"""``python -m agent_runtime migrate`` as a real process, and the settings it reads."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent_runtime.__main__ import migrate
from agent_runtime.app import create_app
from agent_runtime.infrastructure.loop_sqlite import DatabaseInUse
from agent_runtime.settings import Settings
from tests.conftest import KEY, make_settings
from tests.fake_llm import FakeLLM
from tests.infrastructure.test_migrations import NEWEST

ROOT = Path(__file__).parents[1]


def test_the_migrate_command_creates_the_default_sqlite_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_RUNTIME__")}
    env.update(AGENT_RUNTIME__INTERNAL_API_KEY=KEY, AGENT_RUNTIME__DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run(
        [sys.executable, "-m", "agent_runtime", "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"database at revision {NEWEST}" in result.stdout
    assert (tmp_path / "data" / "agent-runtime.sqlite3").is_file()
    assert KEY not in result.stdout + result.stderr


async def test_migrate_is_refused_while_a_runtime_holds_the_sqlite_file_and_runs_after(tmp_path: Path) -> None:
    """Statements run on the runtime's loop thread: a second process writing the file would stall it, so it is
    refused at its start (and a killed runtime's lock goes with its process)."""
    settings = make_settings(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_RUNTIME__")}
    env.update(AGENT_RUNTIME__INTERNAL_API_KEY=KEY, AGENT_RUNTIME__DATA_DIR=str(tmp_path))
    command = [sys.executable, "-m", "agent_runtime", "migrate"]
    app = create_app(settings, llm=FakeLLM())
    async with app.router.lifespan_context(app):
        refused = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        with pytest.raises(DatabaseInUse):
            await migrate(settings)
    assert refused.returncode != 0
    assert "in use by another agent-runtime process" in refused.stderr
    after = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert after.returncode == 0, after.stderr


def test_an_unknown_command_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent_runtime", "explode"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "usage" in result.stderr


def test_settings_normalise_the_database_url(tmp_path: Path) -> None:
    settings = Settings(internal_api_key=KEY, db_url="postgresql://u@h/db", data_dir=tmp_path)  # type: ignore[arg-type]
    assert settings.database_url() == "postgresql+asyncpg://u@h/db"
    default = Settings(internal_api_key=KEY, data_dir=tmp_path)  # type: ignore[arg-type]
    assert default.database_url().startswith("sqlite+aiosqlite:///")


def test_settings_refuse_an_unsupported_database() -> None:
    with pytest.raises(ValidationError):
        Settings(internal_api_key=KEY, db_url="mysql://u@h/db")  # type: ignore[arg-type]
