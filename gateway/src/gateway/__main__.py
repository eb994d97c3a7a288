"""``python -m gateway``: validate settings, configure logs, serve; ``python -m gateway users …`` manages the users
of mode ``local``."""

import sys

from gateway.app import create_app
from gateway.identity.users_command import run_users_command
from gateway.server import serve_gateway
from gateway.settings import Settings
from service_kit.logs import configure_logging
from service_kit.settings import load_settings


def main() -> None:
    if sys.argv[1:2] == ["users"]:
        raise SystemExit(run_users_command(sys.argv[2:]))
    settings = load_settings(Settings)
    configure_logging("gateway", settings.log_level, settings.secrets(), log_format=settings.log_format)
    serve_gateway(create_app(settings), settings)


if __name__ == "__main__":
    main()
