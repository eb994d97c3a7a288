"""``python -m gateway``: validate settings, configure logs, serve."""

from gateway.app import create_app
from gateway.settings import Settings
from service_kit.logs import configure_logging
from service_kit.service import serve
from service_kit.settings import load_settings


def main() -> None:
    settings = load_settings(Settings)
    configure_logging("gateway", settings.log_level, settings.secrets())
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
