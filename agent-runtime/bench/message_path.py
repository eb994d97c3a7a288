"""The runtime's part of the path of one message: which source files and functions of agent_runtime and service_kit
one warm v2 ``user_message`` turn runs (POST /agent/message/stream → done; SQLite, single-agent mode, an instant
in-process model). Prints the count and each file with its number of functions.

    cd agent-runtime && ../.venv/bin/python bench/message_path.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from agent_runtime.app import create_app
from agent_runtime.settings import Settings

KEY = "bench-internal-key-0123456789"
PACKAGES = ("/agent_runtime/", "/service_kit/")


class OneWordModel:
    async def stream_chat(self, **_: Any) -> AsyncIterator[dict[str, Any]]:
        yield {"choices": [{"index": 0, "delta": {"content": "Hello"}}]}
        yield {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}


async def main() -> None:
    functions: set[tuple[str, str]] = set()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        name = frame.f_code.co_filename
        if event == "call" and any(package in name for package in PACKAGES):
            functions.add((name.split("/src/")[-1], frame.f_code.co_name))

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
                sys.setprofile(profile)
                threading.setprofile(profile)
                try:
                    response = await http.post("/agent/message/stream", json=body)
                finally:
                    sys.setprofile(None)
                    threading.setprofile(None)  # type: ignore[arg-type]
                assert b'"done"' in response.content
    files = sorted({file for file, _ in functions})
    print(f"{len(files)} files, {len(functions)} functions")
    for file in files:
        print(f"  {file} {sum(1 for name, _ in functions if name == file)}")


if __name__ == "__main__":
    asyncio.run(main())
