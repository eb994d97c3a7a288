"""The real Claude Code and Codex CLIs, pinned, installed once from npm into an ignored folder of the repository."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path

CLIS_DIR = Path(__file__).resolve().parent.parent / ".npm-clis"  # tests/.npm-clis, in .gitignore
PINNED = {"@anthropic-ai/claude-code": "2.1.332", "@openai/codex": "0.171.0"}
INSTALL_TIMEOUT_S = 600


def _installed_version(package: str) -> str | None:
    manifest = CLIS_DIR / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def ensure_clis() -> Path:
    """Install the pinned CLIs into ``tests/.npm-clis`` unless they are already there; return its ``.bin`` folder.

    The only network access of the tests that use them, and only the first time (needs ``npm`` on PATH)."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH: Node.js 20+ with npm is needed to install the real CLIs")
    CLIS_DIR.mkdir(parents=True, exist_ok=True)
    with (CLIS_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test processes never install at the same time
        missing = [f"{name}@{version}" for name, version in PINNED.items() if _installed_version(name) != version]
        if missing:
            subprocess.run(
                [npm, "install", "--prefix", str(CLIS_DIR), "--no-audit", "--no-fund", "--loglevel=error", *missing],
                check=True,
                timeout=INSTALL_TIMEOUT_S,
            )
    return CLIS_DIR / "node_modules" / ".bin"
