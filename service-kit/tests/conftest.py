"""The loops the tests run on: the internal-hop client's tests on both asyncio's and uvloop's (the services run on
uvloop, whose transports differ from asyncio's), every other test on asyncio's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest
import uvloop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.module is not None and item.module.__name__.endswith("test_stream_client"):
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}
