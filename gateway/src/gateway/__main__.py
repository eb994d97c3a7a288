"""``python -m gateway``: validate settings, configure logs, serve."""

from gateway.app import create_app
from gateway.server import serve_gateway
from gateway.settings import Settings
from service_kit.logs import configure_logging
from service_kit.settings import load_settings


def main() -> None:
    settings = load_settings(Settings)
    configure_logging("gateway", settings.log_level, settings.secrets())
    serve_gateway(create_app(settings), settings)


if __name__ == "__main__":
    main()
