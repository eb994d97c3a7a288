"""T11 — schemathesis against each service's OpenAPI (llm-proxy, agent-runtime, gateway), with and without the key.

Each service is fuzzed twice by the ``st`` command line: with its credentials (internal key; for the gateway's REST
facade also a user token, the gateway running in token mode) and with none. Every exchange is read back from the
HAR report. Pass mark: 0 responses ≥ 500 in either run; 0 auth bypass (without credentials, every operation outside
``/health`` and the docs answers 401/403); every OpenAPI declares the path parameters its operations use (else
schemathesis cannot generate them: such operations are still fuzzed through a repaired copy, and the mark fails);
0 tracebacks in the logs. The SSE follow endpoint
(``/sessions/{id}/events``) never ends by design and is left out. Short: 8 examples per operation; long: 100.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from harness import ROOT, System, Tally, battery, first_traceback, running_system, scan_logs

USER_TOKEN = "schemathesis-user-" + "u" * 24
PUBLIC = re.compile(r"^(/api/v1)?/health$|^/docs|^/redoc|^/openapi\.json$")
ENDLESS = r"/events$"


def credentials(system: System, service: str) -> list[str]:
    headers = [f"X-Internal-Auth: {system.key}"]
    if service == "gateway":
        headers = [f"Authorization: Bearer {USER_TOKEN}", f"X-Internal-Auth: {system.key}"]
    return headers


async def fuzz(
    tally: Tally, schema: str, base: str, headers: list[str], report: Path, examples: int
) -> tuple[int, str]:
    argv = [
        str(ROOT / ".venv" / "bin" / "st"), "run", schema, "--url", base,
        "--checks", "not_a_server_error", "--max-examples", str(examples), "--workers", "1",
        "--request-timeout", "15", "--exclude-path-regex", ENDLESS, "--phases", "examples,coverage,fuzzing",
        "--report", "har", "--report-har-path", str(report), "--seed", "11", "--no-shrink",
        "--suppress-health-check", "all", "--warnings", "off",
    ]  # fmt: skip
    for header in headers:
        argv += ["-H", header]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tally.workdir
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


def exchanges(report: Path) -> list[tuple[str, str, int]]:
    if not report.exists():
        return []
    entries: list[dict[str, Any]] = json.loads(report.read_text())["log"]["entries"]
    found = []
    for entry in entries:
        url = entry["request"]["url"]
        path = "/" + url.split("/", 3)[3].split("?", 1)[0] if url.count("/") >= 3 else url
        found.append((entry["request"]["method"], path, int(entry["response"]["status"])))
    return found


def repaired_schema(tally: Tally, base: str, service: str) -> tuple[str, int]:
    """The service's OpenAPI with every undeclared ``{name}`` path parameter declared (a string), so operations whose
    schema is broken are still fuzzed; also how many were broken (a failure of its own)."""
    with urllib.request.urlopen(f"{base}/openapi.json", timeout=10) as answer:
        schema = json.loads(answer.read())
    broken = 0
    for path, operations in schema.get("paths", {}).items():
        names = re.findall(r"{([^}]+)}", path)
        for operation in operations.values():
            declared = {p.get("name") for p in operation.get("parameters", []) if p.get("in") == "path"}
            for name in names:
                if name not in declared:
                    broken += 1
                    operation.setdefault("parameters", []).append(
                        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                    )
    target = tally.workdir / f"{service}-openapi.json"
    target.write_text(json.dumps(schema))
    return str(target), broken


async def fuzz_service(tally: Tally, system: System, service: str, examples: int) -> None:
    base = system.services[service].url
    schema, broken = repaired_schema(tally, base, service)
    if broken:
        tally.add("openapi_undeclared_path_parameters", broken)
        tally.note(f"{service}: {broken} operations use a path parameter their OpenAPI does not declare")
    for label, headers in (("with_key", credentials(system, service)), ("without_key", [])):
        report = tally.workdir / f"{service}-{label}.har"
        code, output = await fuzz(tally, schema, base, headers, report, examples)
        errors = re.search(r"Schema Error: (\d+)", output)
        if errors:
            tally.add("schema_errors", int(errors.group(1)))
        crashes = re.search(r"Runtime Error: (\d+)", output)
        if crashes:  # schemathesis itself failed (e.g. CPython 3.11's ast under threads): fewer cases ran
            tally.add("schemathesis_runtime_errors", int(crashes.group(1)))
        seen = exchanges(report)
        if not seen:
            tally.add("runs_without_exchanges")
            tally.note(f"{service} {label}: st exited {code} with no exchanges:\n{output[-1500:]}")
            continue
        tally.add("requests", len(seen))
        tally.add(f"requests {service} {label}", len(seen))
        server_errors = [(m, p, s) for m, p, s in seen if s >= 500]
        tally.add("responses_5xx", len(server_errors))
        for method, path, status in server_errors[:5]:
            tally.note(f"{service} {label}: {status} on {method} {path}")
        if label == "without_key":
            bypass = [(m, p, s) for m, p, s in seen if s < 400 and not PUBLIC.match(p)]
            tally.add("auth_bypass", len(bypass))
            for method, path, status in bypass[:5]:
                tally.note(f"{service}: BYPASS {status} on {method} {path} without credentials")
        if code != 0 and not server_errors:
            tally.note(f"{service} {label}: st exited {code}:\n{output[-800:]}")


async def schemathesis_run(tally: Tally) -> None:
    if not (ROOT / ".venv" / "bin" / "st").exists():
        raise RuntimeError("schemathesis is not installed: .venv/bin/pip install schemathesis")
    examples = 100 if tally.long else 8
    env = {"GATEWAY__AUTH_MODE": "token", "GATEWAY__AUTH_TOKENS": f"fuzzer:{USER_TOKEN}"}
    with running_system(tally, env) as system:
        for service in ("llm-proxy", "agent-runtime", "gateway"):
            await fuzz_service(tally, system, service, examples)
        logs = system.logs()
    scan_logs(tally, logs, [USER_TOKEN])
    if tally.get("tracebacks_in_logs"):
        tally.note(first_traceback(logs))
    tally.mark(
        "every service fuzzed with and without the key, schemathesis without internal errors",
        tally.get("runs_without_exchanges") == 0 and tally.get("schemathesis_runtime_errors") == 0,
    )
    tally.mark(
        "every OpenAPI is valid (declares its path parameters)",
        tally.get("openapi_undeclared_path_parameters") == 0 and tally.get("schema_errors") == 0,
    )
    tally.mark("0 responses ≥ 500", tally.get("responses_5xx") == 0)
    tally.mark("0 auth bypass", tally.get("auth_bypass") == 0)
    tally.mark("0 tracebacks in the logs", tally.get("tracebacks_in_logs") == 0)


main = battery("t11_schemathesis", schemathesis_run, __doc__ or "")

if __name__ == "__main__":
    main()
