#!/usr/bin/env bash
# Starts the whole system on its embedded defaults (SQLite + the built-in mock model, no keys needed):
# creates .venv if missing, installs the packages (only when a pyproject.toml changed), starts llm-proxy (:8002),
# agent-runtime (:8001) and gateway (:8000), waits until each is healthy and prints how to connect.
# Then it supervises them: a service that exits is named, its last log lines are shown, and it is restarted with
# backoff (1 s doubling to 30 s; back to 1 s once it stayed up a minute). Ctrl-C stops all three at once.
# Logs: a compact coloured line per event when this terminal is a TTY, JSON lines otherwise; each service's own
# log is also in .data/logs/<service>.log (the previous run's in <service>.log.1).
# Anything set in the environment or in ./.env wins over these defaults (e.g. LLM_PROXY__OPENAI_API_KEY).
set -euo pipefail
source "$(dirname "$0")/lib/venv.sh"
ensure_venv
cd "$ROOT"

DATA="${CODELAB_DATA_DIR:-$ROOT/.data}"
LOGS="$DATA/logs"
mkdir -p "$DATA" "$LOGS"
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
# A port moved with <PREFIX>PORT is all it takes: the next service in the chain is pointed at it.
export AGENT_RUNTIME__LLM_PROXY_URL="${AGENT_RUNTIME__LLM_PROXY_URL:-http://127.0.0.1:${LLM_PROXY__PORT:-8002}}"
export GATEWAY__AGENT_URL="${GATEWAY__AGENT_URL:-http://127.0.0.1:${AGENT_RUNTIME__PORT:-8001}}"

if [ -t 1 ]; then  # a person watches: readable lines and coloured names
  LOG_FORMAT=console
  BOLD=$'\e[1m' RED=$'\e[31m' RESET=$'\e[0m'
else
  LOG_FORMAT=json
  BOLD="" RED="" RESET=""
fi
export LLM_PROXY__LOG_FORMAT="${LLM_PROXY__LOG_FORMAT:-$LOG_FORMAT}"
export AGENT_RUNTIME__LOG_FORMAT="${AGENT_RUNTIME__LOG_FORMAT:-$LOG_FORMAT}"
export GATEWAY__LOG_FORMAT="${GATEWAY__LOG_FORMAT:-$LOG_FORMAT}"

NAMES=(llm-proxy agent-runtime gateway)
declare -A MODULE=([llm-proxy]=llm_proxy [agent-runtime]=agent_runtime [gateway]=gateway)
declare -A PORT_VARIABLE=([llm-proxy]=LLM_PROXY__PORT [agent-runtime]=AGENT_RUNTIME__PORT [gateway]=GATEWAY__PORT)
declare -A COLOUR=([llm-proxy]=$'\e[35m' [agent-runtime]=$'\e[36m' [gateway]=$'\e[32m')
declare -A HEALTH=(
  [llm-proxy]="http://127.0.0.1:${LLM_PROXY__PORT:-8002}/health"
  [agent-runtime]="http://127.0.0.1:${AGENT_RUNTIME__PORT:-8001}/health"
  [gateway]="http://127.0.0.1:${GATEWAY__PORT:-8000}/health"
)
declare -A PID=() STARTED=() BACKOFF=() RESTART_AT=() UNHEALTHY=()
MAX_BACKOFF=30
STABLE_AFTER=60  # seconds up after which a crash counts as the first again

say() { echo "${BOLD}==>${RESET} $*"; }

stop_all() {
  trap - INT TERM EXIT
  echo
  say "stopping"
  for name in "${NAMES[@]}"; do
    [ -n "${PID[$name]:-}" ] && kill -TERM "${PID[$name]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

start() {  # start NAME: output to the terminal (each line prefixed with the name) and to $LOGS/NAME.log
  local name="$1" log="$LOGS/$1.log" prefix
  [ -f "$log" ] && mv -f "$log" "$log.1"
  prefix="${COLOUR[$name]}[$name]${RESET} "
  [ -z "$RESET" ] && prefix="[$name] "
  "$PY" -m "${MODULE[$name]}" > >(tee "$log" | sed -u "s/^/$prefix/") 2>&1 &
  PID[$name]=$!
  STARTED[$name]=$SECONDS
  say "$name started (pid ${PID[$name]})"
}

healthy() {  # healthy URL: true when it answers
  "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null
}

wait_healthy() {  # wait_healthy NAME
  local name="$1"
  for _ in $(seq 1 100); do
    if healthy "${HEALTH[$name]}"; then
      say "$name is healthy (${HEALTH[$name]})"
      return 0
    fi
    if ! kill -0 "${PID[$name]}" 2>/dev/null; then
      break
    fi
    sleep 0.2
  done
  echo "${RED}==> $name did not become healthy at ${HEALTH[$name]}; its last lines:${RESET}" >&2
  tail -n 20 "$LOGS/$name.log" >&2 || true
  exit 1
}

exited() {  # exited NAME STATUS: name it, show its last lines, schedule the restart
  local name="$1" status="$2" delay
  if (( status > 128 )); then status="$status, killed by SIG$(kill -l $(( status - 128 )) 2>/dev/null || echo '?')"; fi
  delay="${BACKOFF[$name]:-1}"
  if (( SECONDS - STARTED[$name] >= STABLE_AFTER )); then delay=1; fi
  PID[$name]=""
  {
    echo "${RED}${BOLD}==> $name exited (status $status); its last log lines:${RESET}"
    tail -n 15 "$LOGS/$name.log" | sed "s/^/    /" || true
    echo "${BOLD}==>${RESET} restarting $name in ${delay} s"
  } >&2
  RESTART_AT[$name]=$(( SECONDS + delay ))
  BACKOFF[$name]=$(( delay * 2 > MAX_BACKOFF ? MAX_BACKOFF : delay * 2 ))
}

supervise() {  # forever: notice exits, restart when due, say when a restarted service answers again
  local name status
  while true; do
    for name in "${NAMES[@]}"; do
      if [ -n "${PID[$name]:-}" ] && ! kill -0 "${PID[$name]}" 2>/dev/null; then
        status=0
        wait "${PID[$name]}" 2>/dev/null || status=$?
        exited "$name" "$status"
      elif [ -z "${PID[$name]:-}" ] && (( SECONDS >= ${RESTART_AT[$name]:-0} )); then
        start "$name"
        UNHEALTHY[$name]=1
      elif [ -n "${UNHEALTHY[$name]:-}" ] && healthy "${HEALTH[$name]}"; then
        UNHEALTHY[$name]=""
        say "$name is healthy again (${HEALTH[$name]})"
      fi
    done
    sleep 0.5
  done
}

for name in "${NAMES[@]}"; do
  if healthy "${HEALTH[$name]}"; then  # it would fail to bind, and the health check would see the other one
    echo "${RED}==> something already answers at ${HEALTH[$name]} (another dev.sh?): stop it, or move $name: ${PORT_VARIABLE[$name]}=<free port> scripts/dev.sh${RESET}" >&2
    exit 1
  fi
  start "$name"
  wait_healthy "$name"
done

cat <<INFO

CodeLab AI Service is up (SQLite in $AGENT_RUNTIME__DATA_DIR, model: the built-in mock).
  IDE:              backend URL http://127.0.0.1:${GATEWAY__PORT:-8000}, log in with any username and password
  WebSocket:        ws://127.0.0.1:${GATEWAY__PORT:-8000}/api/v1/ws/<session_id>   (add ?protocol=2 for token deltas)
  REST:             http://127.0.0.1:${GATEWAY__PORT:-8000}/api/v1/health
  Terminal client:  .venv/bin/codelab-chat
  Internal key:     export KEY=\$(cat $KEY_FILE)   (for curl against :8001 and :8002)
  Logs:             $LOGS/<service>.log
A service that exits is restarted. Press Ctrl-C to stop.

INFO
supervise
