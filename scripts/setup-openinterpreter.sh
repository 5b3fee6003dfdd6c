#!/usr/bin/env bash
# Installs Open Interpreter 0.4.3 (server extra) into a project-local virtualenv from python/requirements.lock.
#
#   scripts/setup-openinterpreter.sh            # venv at ${XDG_CACHE_HOME:-~/.cache}/oi-audit/venv-<lock hash>
#   OI_AUDIT_VENV=/some/dir scripts/...         # venv elsewhere
#   OI_AUDIT_PYTHON=/usr/bin/python3.11 ...     # interpreter used to create the venv
#
# Idempotent: a stamp file inside the venv holds the sha256 of the lock file it was built from; when it matches,
# the script exits at once. Every progress line starts with "[setup-openinterpreter]" so callers can tell the
# script's own steps from pip's output. Exit code 0 = ready, non-zero = not usable (message on stderr).
set -euo pipefail

readonly TAG='[setup-openinterpreter]'
step() { echo "$TAG $*"; }
fail() {
  echo "$TAG ERROR: $*" >&2
  exit 1
}

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCK_FILE="$REPO_ROOT/python/requirements.lock"
STARTED_AT=$SECONDS

[[ -f "$LOCK_FILE" ]] || fail "lock file not found: $LOCK_FILE"

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    fail "neither sha256sum nor shasum is available to hash $1"
  fi
}
LOCK_SHA="$(sha256_of "$LOCK_FILE")"

# Default: one shared per-user venv per lock file, as src/agents/classic/process/venv.ts computes it (keep the two in
# step): $XDG_CACHE_HOME/oi-audit/venv-<first 16 hex of the lock's sha256>, XDG_CACHE_HOME defaulting to ~/.cache.
CACHE_HOME="${XDG_CACHE_HOME:-}"
[[ "$CACHE_HOME" == /* ]] || CACHE_HOME="${HOME:-/root}/.cache"
VENV_DIR="${OI_AUDIT_VENV:-$CACHE_HOME/oi-audit/venv-${LOCK_SHA:0:16}}"
STAMP_FILE="$VENV_DIR/.oi-audit-lock.sha256"
mkdir -p "$(dirname "$VENV_DIR")" || fail "cannot create $(dirname "$VENV_DIR") for the virtualenv (set OI_AUDIT_VENV to a writable directory)"

venv_is_current() {
  [[ -f "$STAMP_FILE" && -x "$VENV_DIR/bin/interpreter" && -x "$VENV_DIR/bin/python" ]] &&
    [[ "$(cat "$STAMP_FILE")" == "$LOCK_SHA" ]]
}

if venv_is_current; then
  step "up to date: $VENV_DIR (lock sha256 ${LOCK_SHA:0:12})"
  exit 0
fi

mkdir -p "$(dirname "$VENV_DIR")"
# Two installers racing on one venv corrupt it (tests and a manual run, say): serialise on a lock file beside it.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$VENV_DIR.setup-lock"
  step "taking the install lock $VENV_DIR.setup-lock"
  flock -w 1800 9 || fail "timed out after 30 min waiting for another setup run holding $VENV_DIR.setup-lock"
  if venv_is_current; then
    step "up to date (installed by a concurrent run): $VENV_DIR"
    exit 0
  fi
fi

# --- Python -----------------------------------------------------------------------------------------------
pick_python() {
  if [[ -n "${OI_AUDIT_PYTHON:-}" ]]; then
    echo "$OI_AUDIT_PYTHON"
  elif command -v python3.11 >/dev/null 2>&1; then
    echo python3.11
  else
    echo python3
  fi
}
BASE_PYTHON="$(pick_python)"
command -v "$BASE_PYTHON" >/dev/null 2>&1 ||
  fail "$BASE_PYTHON not found: install Python 3.11 (Open Interpreter 0.4.3 needs 3.10-3.12; the lock is made on 3.11) or set OI_AUDIT_PYTHON"
PY_VERSION="$("$BASE_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ||
  fail "$BASE_PYTHON does not run"
case "$PY_VERSION" in
  3.11) ;;
  3.10 | 3.12) step "warning: Python $PY_VERSION; the lock file was made on 3.11, some pinned wheels may be missing" ;;
  *) fail "Python $PY_VERSION at $(command -v "$BASE_PYTHON") is unsupported: Open Interpreter 0.4.3 needs 3.10-3.12 (3.11 preferred); set OI_AUDIT_PYTHON" ;;
esac

# --- virtualenv ---------------------------------------------------------------------------------------------
rm -f "$STAMP_FILE"
venv_python_ok() {
  [[ -x "$VENV_DIR/bin/python" ]] &&
    [[ "$("$VENV_DIR/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" == "$PY_VERSION" ]]
}
if venv_python_ok; then
  step "reusing virtualenv $VENV_DIR (Python $PY_VERSION); lock changed or install incomplete"
else
  step "creating virtualenv $VENV_DIR with $BASE_PYTHON ($PY_VERSION)"
  rm -rf "$VENV_DIR"
  "$BASE_PYTHON" -m venv "$VENV_DIR" ||
    fail "'$BASE_PYTHON -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
fi
VENV_PYTHON="$VENV_DIR/bin/python"

# --- packages -----------------------------------------------------------------------------------------------
PIP=("$VENV_PYTHON" -m pip --disable-pip-version-check --no-input)
PIP_INSTALL_OPTS=(--progress-bar off)
step "installing $(grep -cE '^[A-Za-z0-9]' "$LOCK_FILE") pinned packages from python/requirements.lock (--no-deps); a cold install takes a few minutes"
if ! "${PIP[@]}" install "${PIP_INSTALL_OPTS[@]}" --no-deps -r "$LOCK_FILE"; then
  # --no-deps is exact but unforgiving (e.g. a pin without a wheel for this platform). Let pip resolve instead,
  # still held to the same pins through the lock file.
  step "pip install --no-deps failed; retrying with dependency resolution against the same pins"
  "${PIP[@]}" install "${PIP_INSTALL_OPTS[@]}" -r "$LOCK_FILE" ||
    fail "pip install -r python/requirements.lock failed (see pip's output above)"
fi

# --- checks -------------------------------------------------------------------------------------------------
# OI writes profiles under the user config dir even for --help: keep the user's home out of it.
CHECK_HOME="$(mktemp -d)"
trap 'rm -rf "$CHECK_HOME"' EXIT
check_env=(env HOME="$CHECK_HOME" XDG_CONFIG_HOME="$CHECK_HOME/.config" LITELLM_LOCAL_MODEL_COST_MAP=True DISABLE_TELEMETRY=true)

step "checking: python -c 'from interpreter import AsyncInterpreter'"
"${check_env[@]}" "$VENV_PYTHON" -c 'from interpreter import AsyncInterpreter; import janus, uvicorn, fastapi' ||
  fail "the installed packages do not import (from interpreter import AsyncInterpreter failed)"
step "checking: interpreter --help"
"${check_env[@]}" "$VENV_DIR/bin/interpreter" --help >/dev/null ||
  fail "$VENV_DIR/bin/interpreter --help failed"
OI_VERSION="$("$VENV_PYTHON" -c 'from importlib.metadata import version; print(version("open-interpreter"))')"

echo "$LOCK_SHA" >"$STAMP_FILE.tmp"
mv "$STAMP_FILE.tmp" "$STAMP_FILE"
step "ready: open-interpreter $OI_VERSION in $VENV_DIR ($((SECONDS - STARTED_AT)) s)"
