""".env.example and doc/configuration.md list every variable the services read, generated from the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.deploy.test_compose import example_variables

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import config_reference  # noqa: E402


def test_every_setting_of_every_service_is_in_env_example() -> None:
    assert {name for _, name, _, _ in config_reference.rows()} - example_variables() == set()


def test_every_setting_explains_itself() -> None:
    assert [name for _, name, _, description in config_reference.rows() if not description] == []


def test_env_example_and_the_configuration_page_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_reference.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
