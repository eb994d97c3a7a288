from pathlib import Path

import pytest
from sqlalchemy import text

from agent_runtime.infrastructure.database import create_engine, normalise_db_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///tmp/x.db", "sqlite+aiosqlite:///tmp/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_urls_are_normalised_to_the_async_drivers(given: str, expected: str) -> None:
    assert normalise_db_url(given, Path("data")) == expected


def test_no_url_means_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    assert normalise_db_url(None, tmp_path) == f"sqlite+aiosqlite:///{tmp_path.resolve()}/agent-runtime.sqlite3"


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="sqlite"):
        normalise_db_url("mysql://u@h/db", Path("."))


async def test_sqlite_connections_use_wal_a_busy_timeout_and_normal_sync(tmp_path: Path) -> None:
    engine = create_engine(normalise_db_url(None, tmp_path / "nested"))
    try:
        async with engine.connect() as connection:
            pragmas = [
                (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "busy_timeout", "synchronous")
            ]
    finally:
        await engine.dispose()
    assert pragmas == ["wal", 30000, 1]
    assert (tmp_path / "nested" / "agent-runtime.sqlite3").is_file()
