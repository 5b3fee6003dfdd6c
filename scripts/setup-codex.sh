#!/usr/bin/env bash
# Installs Codex 0.148.0 (the code base of the Rust Open Interpreter) from npm into a cache directory.
#
#   scripts/setup-codex.sh                      # into ~/.cache/oi-audit/codex-0.148.0
#   OI_AUDIT_CODEX_DIR=/some/dir scripts/...    # elsewhere
#
# The Linux binary comes in @openai/codex@0.148.0-linux-x64 (~300 MB unpacked). Idempotent: when the binary is
# there and answers `--version` with the pinned version, the script exits at once. Every progress line starts
# with "[setup-codex]". The last line on stdout is the binary's path. Exit code 0 = ready.
set -euo pipefail

readonly TAG='[setup-codex]'
readonly VERSION='0.148.0'
step() { echo "$TAG $*" >&2; }
fail() {
  echo "$TAG ERROR: $*" >&2
  exit 1
}

DIR="${OI_AUDIT_CODEX_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oi-audit/codex-$VERSION}"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) TRIPLE=x86_64-unknown-linux-musl PLATFORM=linux-x64 ;;
  Linux-aarch64) TRIPLE=aarch64-unknown-linux-musl PLATFORM=linux-arm64 ;;
  Darwin-x86_64) TRIPLE=x86_64-apple-darwin PLATFORM=darwin-x64 ;;
  Darwin-arm64) TRIPLE=aarch64-apple-darwin PLATFORM=darwin-arm64 ;;
  *) fail "no Codex $VERSION build for $(uname -s) $(uname -m)" ;;
esac
BIN="$DIR/node_modules/@openai/codex-$PLATFORM/vendor/$TRIPLE/bin/codex"

is_current() {
  [[ -x "$BIN" ]] && [[ "$("$BIN" --version 2>/dev/null)" == "codex-cli $VERSION" ]]
}

if is_current; then
  step "up to date: $BIN"
  echo "$BIN"
  exit 0
fi

mkdir -p "$DIR"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$DIR.setup-lock"
  step "taking the install lock $DIR.setup-lock"
  flock -w 1800 9 || fail "timed out after 30 min waiting for another setup run holding $DIR.setup-lock"
  if is_current; then
    step "up to date (installed by a concurrent run): $BIN"
    echo "$BIN"
    exit 0
  fi
fi

command -v npm >/dev/null 2>&1 || fail "npm not found: it installs @openai/codex@$VERSION"
# A private package.json so the install never touches the project's own dependencies.
[[ -f "$DIR/package.json" ]] || echo '{"name":"oi-audit-codex-cache","private":true}' >"$DIR/package.json"
step "installing @openai/codex@$VERSION into $DIR (the $PLATFORM binary is ~300 MB; this takes a while on first use)"
npm install --prefix "$DIR" --no-audit --no-fund --no-save --loglevel=http --foreground-scripts \
  "@openai/codex@$VERSION" >&2 || fail "npm install @openai/codex@$VERSION failed (is the npm registry reachable?)"
[[ -x "$BIN" ]] || fail "the install finished but $BIN is missing (optional dependency @openai/codex-$PLATFORM not installed?)"
is_current || fail "$BIN does not report codex-cli $VERSION (got: $("$BIN" --version 2>&1 | head -1))"
step "ready: $BIN"
echo "$BIN"
