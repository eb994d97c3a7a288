"""gateway: the IDE's WebSocket and REST entry point in front of the agent runtime."""

__version__ = "0.1.0"
