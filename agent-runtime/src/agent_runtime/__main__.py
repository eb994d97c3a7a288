"""``python -m agent_runtime [serve|migrate]``: validate settings, configure logs, then serve or migrate."""

from __future__ import annotations

import asyncio
import sys

from agent_runtime.app import create_app
from agent_runtime.infrastructure.database import create_engine
from agent_runtime.infrastructure.loop_sqlite import DatabaseInUse, FileOwner
from agent_runtime.infrastructure.migrator import current_revision, upgrade
from agent_runtime.settings import Settings
from service_kit.logs import configure_logging
from service_kit.service import serve
from service_kit.settings import load_settings

USAGE = "usage: python -m agent_runtime [serve|migrate]"


async def migrate(settings: Settings) -> str | None:
    """Apply every pending migration; returns the revision the database is at. Refused (``DatabaseInUse``) while
    a runtime holds the SQLite file."""
    owner = FileOwner(settings.database_url())
    owner.acquire()
    engine = create_engine(settings.database_url())
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()
        owner.release()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    action = args[0] if args else "serve"
    if action not in ("serve", "migrate"):
        raise SystemExit(USAGE)
    settings = load_settings(Settings)
    configure_logging("agent-runtime", settings.log_level, settings.secrets(), log_format=settings.log_format)
    if action == "migrate":
        try:
            revision = asyncio.run(migrate(settings))
        except DatabaseInUse as exc:
            raise SystemExit(f"migrate: {exc}") from None
        print(f"database at revision {revision}")
        return
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
