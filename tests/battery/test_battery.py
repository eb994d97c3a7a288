"""The CI-sized battery: each script of scripts/battery/ (T1–T14) runs its short version as a subprocess and must
exit 0. A script exits 1 when a pass mark is missed and 2 when it could not run (a missing feature or tool): both
fail here, never skip. The output of a failing script is in the assertion message.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BATTERY = Path(__file__).resolve().parents[2] / "scripts" / "battery"
SCRIPTS = sorted(BATTERY.glob("t[0-9][0-9]_*.py"))
TIMEOUT_S = 900  # bounded, with room for a loaded machine (the scripts take 10-170 s on an idle one)


def test_the_battery_has_fourteen_scripts() -> None:
    assert [path.stem[:3] for path in SCRIPTS] == [f"t{n:02d}" for n in range(1, 15)]


@pytest.mark.timeout(TIMEOUT_S + 60)  # the subprocess's own limit ends it first
@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_battery_script_meets_every_pass_mark(script: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=tmp_path
    )
    report = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, f"{script.stem} exited {done.returncode}:\n{report}"
    assert "RESULT " in done.stdout
