"""codelab-chat: a terminal client for CodeLab that does what the IDE does.

- ``link``: the WebSocket to the gateway (v2 dialect), with ``seq`` tracking and resume after a dropped connection.
- ``conversation``: drives one exchange (a turn) to its end: renders frames, runs tools, answers approvals and plans.
- ``tools``: the IDE tools executed against a workspace folder, with the IDE's argument names and result shapes.
- ``workspace``: confinement of every path to the workspace folder.
- ``app``: the composition root; ``app.run(...)`` is the non-interactive entry point returning a transcript.
"""

__version__ = "0.1.0"
