#!/usr/bin/env bash
# Make sure the containment and ground-truth tools are installed: bubblewrap (/usr/bin/bwrap) and strace.
# Idempotent; installs Debian's packages with apt-get when one is missing (needs root), then checks that bwrap
# can build a sandbox with the namespaces oi-audit uses. Exit 0 when both work; exit 1 with the reason if not.
set -euo pipefail

log() { printf '[setup-sandbox] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

missing=()
[ -x /usr/bin/bwrap ] || missing+=(bubblewrap)
command -v strace >/dev/null 2>&1 || missing+=(strace)

if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "${missing[*]} not installed and this is not root: install Debian's ${missing[*]} (or set OI_AUDIT_SANDBOX=none and OI_AUDIT_GROUND_TRUTH=off)"
  command -v apt-get >/dev/null 2>&1 || die "${missing[*]} not installed and apt-get is not available"
  log "installing Debian's ${missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    log "apt-get install failed; running apt-get update and retrying"
    apt-get update >&2 || die "apt-get update failed"
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 || die "apt-get install -y ${missing[*]} failed"
  fi
fi
[ -x /usr/bin/bwrap ] || die "bubblewrap was installed but /usr/bin/bwrap is missing"
command -v strace >/dev/null 2>&1 || die "strace was installed but is not on PATH"

if ! out=$(/usr/bin/bwrap --unshare-pid --unshare-ipc --unshare-uts --unshare-net --die-with-parent \
    --ro-bind / / --proc /proc --dev /dev -- /bin/true 2>&1); then
  die "bwrap is installed but cannot create namespaces here: $out"
fi
log "bwrap $(/usr/bin/bwrap --version | awk '{print $2}') and $(strace -V | head -1) ready"
