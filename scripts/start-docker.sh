#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`; start one if needed. Idempotent.
#
# - An engine that already answers (DOCKER_HOST or the default socket) is used as it is.
# - Otherwise, when dockerd is missing, Debian's docker.io package is installed (needs root).
# - dockerd is started in the background with no bridge and no iptables rules
#   (`--bridge=none --iptables=false --ip6tables=false`): containers must use `--network host`.
#   Its log goes to ${OI_AUDIT_CACHE:-$HOME/.cache/oi-audit}/dockerd/dockerd.log.
# - Waits (up to OI_AUDIT_DOCKER_WAIT seconds, default 60) until `docker info` works.
# Exit 0 when an engine answers; exit 1 with the reason (and the tail of the dockerd log) if not.
set -euo pipefail

cache="${OI_AUDIT_CACHE:-${HOME:-/root}/.cache/oi-audit}"
state="$cache/dockerd"
wait_s="${OI_AUDIT_DOCKER_WAIT:-60}"
log() { printf '[start-docker] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

engine_up() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if engine_up; then
  log "a Docker engine already answers ($(docker info --format '{{.ServerVersion}}' 2>/dev/null || echo '?'))"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || die "dockerd is not installed and this is not root: install Debian's docker.io package"
  command -v apt-get >/dev/null 2>&1 || die "dockerd is not installed and apt-get is not available"
  log "dockerd not found: installing Debian's docker.io ..."
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends docker.io >&2; then
    log "apt-get install failed; running apt-get update and retrying"
    apt-get update >&2 || die "apt-get update failed"
    apt-get install -y --no-install-recommends docker.io >&2 || die "apt-get install -y docker.io failed"
  fi
  command -v dockerd >/dev/null 2>&1 || die "docker.io was installed but dockerd is still not on PATH"
fi
command -v docker >/dev/null 2>&1 || die "the docker CLI is not on PATH"
[ "$(id -u)" = 0 ] || die "starting dockerd needs root"

mkdir -p "$state"
pidfile="$state/dockerd.pid"
logfile="$state/dockerd.log"

# Another dockerd of ours may still be starting.
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  log "dockerd (pid $(cat "$pidfile")) is running; waiting for it"
else
  # containerd: dockerd starts its own managed containerd when none is given.
  log "starting dockerd --bridge=none --iptables=false --ip6tables=false (log: $logfile)"
  # setsid: the daemon outlives the calling shell / test process.
  setsid dockerd --bridge=none --iptables=false --ip6tables=false \
    --pidfile="$pidfile" --data-root="${OI_AUDIT_DOCKER_DATA_ROOT:-/var/lib/docker}" \
    >>"$logfile" 2>&1 < /dev/null &
  echo $! > "$state/launcher.pid"
fi

for _ in $(seq 1 "$((wait_s * 2))"); do
  if engine_up; then
    log "Docker engine is up ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
    exit 0
  fi
  if [ -f "$state/launcher.pid" ] && ! kill -0 "$(cat "$state/launcher.pid")" 2>/dev/null && \
     ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then
    log "dockerd exited; last lines of $logfile:"
    tail -n 25 "$logfile" >&2 || true
    die "dockerd could not start (see $logfile)"
  fi
  sleep 0.5
done
log "last lines of $logfile:"
tail -n 25 "$logfile" >&2 || true
die "dockerd did not answer 'docker info' within ${wait_s}s (see $logfile)"
