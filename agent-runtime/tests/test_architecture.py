"""The layer rules in pyproject.toml ([tool.importlinter]) hold: run import-linter as part of the suite."""

import subprocess
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).parents[1]


def test_import_linter_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--config", str(PACKAGE_ROOT / "pyproject.toml")],
        cwd=PACKAGE_ROOT / "src",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout
