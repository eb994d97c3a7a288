#!/usr/bin/env bash
# Starts the whole system on its embedded defaults (SQLite + the built-in mock model, no keys needed):
# creates .venv if missing, installs the packages, starts llm-proxy (:8002), agent-runtime (:8001) and
# gateway (:8000), waits until each is healthy, prints how to connect, and stops all three on Ctrl-C.
# Anything set in the environment or in ./.env wins over these defaults (e.g. LLM_PROXY__OPENAI_API_KEY).
set -euo pipefail
source "$(dirname "$0")/lib/venv.sh"
ensure_venv
cd "$ROOT"

DATA="${CODELAB_DATA_DIR:-$ROOT/.data}"
mkdir -p "$DATA"
KEY_FILE="$DATA/internal-api-key"
if [ ! -s "$KEY_FILE" ]; then
  (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(32))' > "$KEY_FILE")
fi
KEY="$(cat "$KEY_FILE")"
export LLM_PROXY__INTERNAL_API_KEY="${LLM_PROXY__INTERNAL_API_KEY:-$KEY}"
export AGENT_RUNTIME__INTERNAL_API_KEY="${AGENT_RUNTIME__INTERNAL_API_KEY:-$KEY}"
export GATEWAY__INTERNAL_API_KEY="${GATEWAY__INTERNAL_API_KEY:-$KEY}"
export AGENT_RUNTIME__DATA_DIR="${AGENT_RUNTIME__DATA_DIR:-$DATA}"
# The key that signs the IDE's login tokens: kept across restarts, so a restart does not log the IDE out.
export GATEWAY__SIGNING_KEY_FILE="${GATEWAY__SIGNING_KEY_FILE:-$DATA/gateway-signing-key.pem}"

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

start() {  # start NAME MODULE: the service's output goes to the terminal, each line prefixed with its name
  local name="$1" module="$2"
  "$PY" -m "$module" > >(sed -u "s/^/[$name] /") 2>&1 &
  pids+=("$!")
}

wait_healthy() {  # wait_healthy NAME URL
  local name="$1" url="$2"
  for _ in $(seq 1 100); do
    if "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$url" 2>/dev/null; then
      echo "==> $name is healthy ($url)"
      return 0
    fi
    sleep 0.2
  done
  echo "==> $name did not become healthy at $url" >&2
  exit 1
}

start llm-proxy llm_proxy
wait_healthy llm-proxy "http://127.0.0.1:${LLM_PROXY__PORT:-8002}/health"
start agent-runtime agent_runtime
wait_healthy agent-runtime "http://127.0.0.1:${AGENT_RUNTIME__PORT:-8001}/health"
start gateway gateway
wait_healthy gateway "http://127.0.0.1:${GATEWAY__PORT:-8000}/health"

cat <<INFO

CodeLab AI Service is up (SQLite in $AGENT_RUNTIME__DATA_DIR, model: the built-in mock).
  IDE:              backend URL http://127.0.0.1:${GATEWAY__PORT:-8000}, log in with any username and password
  WebSocket:        ws://127.0.0.1:${GATEWAY__PORT:-8000}/api/v1/ws/<session_id>   (add ?protocol=2 for token deltas)
  REST:             http://127.0.0.1:${GATEWAY__PORT:-8000}/api/v1/health
  Terminal client:  .venv/bin/codelab-chat
  Internal key:     export KEY=\$(cat $KEY_FILE)   (for curl against :8001 and :8002)
Press Ctrl-C to stop.

INFO
wait -n "${pids[@]}" || true
echo "==> a service exited; stopping the others" >&2
exit 1
