"""Migrations against SQLite and PostgreSQL: upgrade from empty, downgrade to nothing, upgrade again."""

from pathlib import Path

from sqlalchemy import inspect

from agent_runtime.infrastructure import migrations
from agent_runtime.infrastructure.database import create_engine, normalise_db_url
from agent_runtime.infrastructure.migrator import current_revision, downgrade, upgrade
from agent_runtime.infrastructure.tables import metadata


async def table_names(engine) -> set[str]:  # type: ignore[no-untyped-def]
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


NEWEST = max(p.name[:4] for p in (Path(migrations.__file__).parent / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


async def test_upgrade_downgrade_upgrade_round_trips(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(normalise_db_url(db_url, tmp_path))
    try:
        await upgrade(engine)
        assert set(metadata.tables) <= await table_names(engine)
        assert await current_revision(engine) == NEWEST
        await downgrade(engine, "base")
        assert not set(metadata.tables) & await table_names(engine)
        await upgrade(engine)
        assert set(metadata.tables) <= await table_names(engine)
        await upgrade(engine)  # idempotent
    finally:
        await engine.dispose()
