"""The runtime's part of the path of one message: which source files and functions of agent_runtime and service_kit
one warm v2 ``user_message`` turn runs (POST /agent/message/stream → done; SQLite, single-agent mode, an instant
in-process model). Prints the count and each file with its number of functions. The whole chain (gateway → runtime
→ llm-proxy and back) is ``scripts/bench/message_path.py``, whose ``PathCounter`` counts here too.

    cd agent-runtime && ../.venv/bin/python bench/message_path.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from agent_runtime.app import create_app
from agent_runtime.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "bench"))
from message_path import KEY, PACKAGES, PathCounter, quiet_logging


class OneWordModel:
    async def stream_chat(self, **_: Any) -> AsyncIterator[dict[str, Any]]:
        yield {"choices": [{"index": 0, "delta": {"content": "Hello"}}]}
        yield {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}


async def main(counter: PathCounter) -> None:
    quiet_logging()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(internal_api_key=KEY, data_dir=Path(tmp), multi_agent_mode=False)  # type: ignore[arg-type]
        app = create_app(settings, llm=OneWordModel())
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            headers = {"X-Internal-Auth": KEY}
            async with httpx.AsyncClient(transport=transport, base_url="http://runtime", headers=headers) as http:
                body: dict[str, Any] = {"session_id": "s1", "message": {"type": "user_message", "content": "hi"}}
                await http.post("/agent/message/stream", json=body)  # warm: the session exists, caches are filled
                body["message"]["content"] = "again"
                with counter.recording():
                    response = await http.post("/agent/message/stream", json=body)
                assert b'"done"' in response.content


if __name__ == "__main__":
    counter = PathCounter({package: PACKAGES[package] for package in ("agent_runtime", "service_kit")})
    with counter.installed():
        asyncio.run(main(counter))
    print(counter.report())
