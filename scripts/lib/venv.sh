# Sourced by scripts/*.sh: make sure .venv exists and holds the packages (editable) and the dev tools.
# Re-installs only when a pyproject.toml changed since the last install, so repeated runs start fast.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${CODELAB_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

ensure_venv() {
  local extras="${1:-}"  # "dev" to install test tools too
  if [ ! -x "$PY" ]; then
    echo "==> creating virtualenv in $VENV"
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
  fi
  local stamp="$VENV/.codelab-installed${extras:+-$extras}"
  local sum
  sum="$(cat "$ROOT"/*/pyproject.toml "$ROOT/scripts/battery/requirements.txt" "$ROOT/scripts/lib/examples-requirements.txt" \
    | sha256sum | cut -d' ' -f1)"
  if [ -z "$extras" ] && [ "$(cat "$VENV/.codelab-installed-dev" 2>/dev/null)" = "$sum" ]; then
    return 0  # a dev install holds everything a plain one would
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    echo "==> installing packages into $VENV (the first time takes a few minutes; then only when a pyproject.toml changes)"
    local sfx=""
    [ -n "$extras" ] && sfx="[$extras]"
    local packages=()
    for pkg in service-kit llm-proxy agent-runtime gateway terminal-client acp-bridge; do
      [ -f "$ROOT/$pkg/pyproject.toml" ] && packages+=(-e "$ROOT/$pkg$sfx")
    done
    "$PY" -m pip install -q "${packages[@]}" -r "$ROOT/scripts/lib/examples-requirements.txt"
    if [ -n "$extras" ]; then
      "$PY" -m pip install -q ruff mypy types-PyYAML -r "$ROOT/scripts/battery/requirements.txt"
    fi
    echo "$sum" > "$stamp"
  fi
}
