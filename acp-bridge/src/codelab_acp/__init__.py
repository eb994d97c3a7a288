"""codelab-acp: an ACP agent on stdio that is really the CodeLab gateway's ACP WebSocket."""

__version__ = "0.1.0"
