#!/usr/bin/env bash
# Tools only the tests need: tmux (a real terminal for test/e2e/chat-terminal.test.ts). Idempotent; installs
# Debian's package with apt-get when missing (needs root). Exit 1 with the reason when it cannot.
set -euo pipefail
log() { printf '[setup-test-tools] %s\n' "$*" >&2; }
if ! command -v tmux >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { log "ERROR: tmux is not installed and this is not root: install Debian's tmux"; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends tmux >&2 || { apt-get update >&2 && apt-get install -y --no-install-recommends tmux >&2; } || { log "ERROR: apt-get install tmux failed"; exit 1; }
fi
log "$(tmux -V) ready"
