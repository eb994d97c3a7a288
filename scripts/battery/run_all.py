"""Run every battery script (T1–T14), short versions by default, one after another, and print a table.

    .venv/bin/python scripts/battery/run_all.py [--long] [--only t02,t07] [--json results.json]

Exit status 0 only when every script passed. Each script's full output stays in the work directory printed at the
end (``<name>.out``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = str(HERE.parents[1] / ".venv" / "bin" / "python")


def scripts(only: str) -> list[Path]:
    found = sorted(HERE.glob("t[0-9][0-9]_*.py"))
    if only:
        wanted = {name.strip() for name in only.split(",") if name.strip()}
        found = [path for path in found if path.stem.split("_", 1)[0] in wanted or path.stem in wanted]
    return found


@dataclass
class Outcome:
    """One script's run: its exit status, time, the pass marks it missed and its counters."""

    test: str
    exit: int
    seconds: float
    failed_marks: list[str] = field(default_factory=list)
    counters: dict[str, float] = field(default_factory=dict)


def run(script: Path, long: bool, out_dir: Path, timeout: float) -> Outcome:
    began = time.monotonic()
    argv = [PYTHON, str(script), *(["--long"] if long else [])]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=out_dir)
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout or b""
        text = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
        output, code = f"{text}\nTIMEOUT after {timeout:.0f} s", 124
    (out_dir / f"{script.stem}.out").write_text(output)
    result = next((line[7:] for line in output.splitlines()[::-1] if line.startswith("RESULT ")), "{}")
    failed = [line.strip()[7:] for line in output.splitlines() if line.strip().startswith("[FAIL]")]
    counters = json.loads(result).get("counters", {})
    return Outcome(script.stem, code, round(time.monotonic() - began, 1), failed, counters)


def table(results: list[Outcome]) -> str:
    lines = [f"{'test':<24} {'result':<7} {'exit':>4} {'seconds':>8}  failed pass marks", "-" * 100]
    for r in results:
        verdict = "PASS" if r.exit == 0 else "FAIL"
        lines.append(f"{r.test:<24} {verdict:<7} {r.exit:>4} {r.seconds:>8}  {'; '.join(r.failed_marks)}")
    passed = sum(1 for r in results if r.exit == 0)
    lines.append("-" * 100)
    lines.append(f"{passed}/{len(results)} passed in {sum(r.seconds for r in results):.0f} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long", action="store_true", help="the long versions (the pass-mark sizes; ~30 min)")
    parser.add_argument("--only", default="", help="comma-separated script numbers or names, e.g. t02,t07")
    parser.add_argument("--timeout", type=float, default=0, help="seconds per script (default 600 short, 3 h long)")
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args()
    out_dir = Path(tempfile.mkdtemp(prefix="battery-run-"))
    timeout = args.timeout or (3 * 3600 if args.long else 600)
    results = []
    for script in scripts(args.only):
        print(f"==> {script.stem}", flush=True)
        results.append(run(script, args.long, out_dir, timeout))
        print(f"    {'PASS' if results[-1].exit == 0 else 'FAIL'} in {results[-1].seconds} s", flush=True)
    print()
    print(table(results))
    print(f"outputs: {out_dir}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
    sys.exit(0 if results and all(r.exit == 0 for r in results) else 1)


if __name__ == "__main__":
    main()
