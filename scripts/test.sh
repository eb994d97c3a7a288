#!/usr/bin/env bash
# Runs every test: lint, format, types, each package's suite, then the end-to-end tests that start the real
# services as processes on free loopback ports. PostgreSQL-backed tests run when PostgreSQL is reachable
# (CODELAB_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test); with CODELAB_REQUIRE_POSTGRES=1
# (as in CI) an unreachable PostgreSQL is a failure, not a skip.
# Extra arguments go to every pytest run (e.g. scripts/test.sh -x -q).
set -euo pipefail
source "$(dirname "$0")/lib/venv.sh"
ensure_venv dev
cd "$ROOT"
export CODELAB_TEST_POSTGRES_URL="${CODELAB_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}"

echo "==> ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .

echo "==> mypy"
for pkg in service-kit gateway agent-runtime llm-proxy terminal-client acp-bridge; do
  "$VENV/bin/mypy" --config-file mypy.ini "$pkg/src"
done

failed=0
for suite in service-kit/tests llm-proxy/tests agent-runtime/tests gateway/tests terminal-client/tests acp-bridge/tests \
  scripts/bench/test_bench_tools.py tests; do
  echo "==> pytest $suite"
  (cd "$(dirname "$suite")" && "$PY" -m pytest "$(basename "$suite")" -p no:cacheprovider "$@") || failed=1
done
exit $failed
