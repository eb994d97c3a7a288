"""``python -m llm_proxy``: validate settings, configure logs, serve."""

from llm_proxy.app import create_app
from llm_proxy.settings import Settings
from service_kit.logs import configure_logging
from service_kit.service import serve
from service_kit.settings import load_settings


def main() -> None:
    settings = load_settings(Settings)
    configure_logging("llm-proxy", settings.log_level, settings.secrets(), log_format=settings.log_format)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
