from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.replicas import running_replicas
from tests.e2e.system import System, start_system

# Recognisable, so a leak into any log is unmistakable.
PLANTED_KEY = "planted-internal-key-" + secrets.token_hex(12)


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    running = start_system(Path(tmp_path_factory.mktemp("e2e")), PLANTED_KEY)
    yield running
    running.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[System]:
    """The replica tests' system (issue 16): runtimes r1 and r2 on a fresh database, gateway g1 in front of r1
    and g2 in front of r2."""
    with running_replicas(tmp_path) as (system, _):
        yield system
