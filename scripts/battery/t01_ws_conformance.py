"""T1 — WebSocket conformance: kosoku (Autobahn's cases on Python 3) against the gateway's server stack.

Pass mark: 0 failed cases in groups 1-7 and 10; 0 tracebacks in the server's log. Short: those groups, 4 cases in
parallel; long: one at a time, plus the many-small-messages cases 9.7.* and 9.8.*.
"""

from __future__ import annotations

import asyncio
import collections
import json

from harness import PYTHON, ROOT, Tally, battery, first_traceback, stop_process

GROUPS = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]


async def conformance(tally: Tally) -> None:
    try:
        import kosoku
    except ImportError:
        raise RuntimeError("kosoku is not installed: .venv/bin/pip install kosoku") from None
    log = tally.workdir / "echo-server.log"
    with log.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            PYTHON,
            str(ROOT / "scripts" / "battery" / "echo_server.py"),
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
    assert process.stdout is not None
    port = int(json.loads(await asyncio.wait_for(process.stdout.readline(), 30))["port"])
    include = GROUPS + (["9.7.*", "9.8.*"] if tally.long else [])
    try:
        try:
            results = await kosoku.run_fuzzingclient(
                f"ws://127.0.0.1:{port}", include, None, concurrency=1 if tally.long else 4
            )
            failed_results = []
        except kosoku.FailureError as failure:
            results = failure.results
            failed_results = list(failure.results)
    finally:
        await stop_process(process)
    verdicts = collections.Counter(f"{r.behavior.value}/{r.behavior_close.value}" for r in results)
    failed = [r for r in results if not r.passed] or failed_results
    tally.set("cases_run", len(results))
    tally.set("cases_failed", len(failed))
    for verdict, count in sorted(verdicts.items()):
        tally.set(f"verdict {verdict}", count)
    for result in failed[:20]:
        tally.note(f"failed {result.case_id}: {result.behavior.value}/{result.behavior_close.value} {result.result}")
    text = log.read_text(errors="replace")
    tally.set("tracebacks_in_log", text.count("Traceback (most recent call last)"))
    if "Traceback" in text:
        tally.note(first_traceback(text))
    tally.mark("kosoku ran cases", len(results) > 0, f"{len(results)} cases")
    tally.mark("0 failed cases (groups 1-7, 10)", not failed)
    tally.mark("0 tracebacks in the server log", tally.get("tracebacks_in_log") == 0)


main = battery("t01_ws_conformance", conformance, __doc__ or "")

if __name__ == "__main__":
    main()
