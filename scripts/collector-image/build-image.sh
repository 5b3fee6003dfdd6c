#!/usr/bin/env bash
# Build the local Docker image of the oi-audit Collector (FROM scratch + the ocb-built binary).
# Usage: scripts/collector-image/build-image.sh [binary]
#   binary  default: the output of scripts/build-collector.sh (built when missing)
# Tag: oi-audit-otelcol:<the binary's cache id, otelcol-<16 hex>> — printed on the last stdout line.
# A no-op when an image with that tag exists (OI_AUDIT_REBUILD_IMAGE=1 forces a build).
# Needs a running Docker engine (scripts/start-docker.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[collector-image] %s\n' "$*" >&2; }

bin="${1:-}"
if [ -z "$bin" ]; then
  bin="$("$here/../build-collector.sh" | tail -n 1)"
fi
[ -x "$bin" ] || { log "ERROR: collector binary not found: $bin"; exit 1; }
id="$(basename "$(dirname "$bin")")"          # otelcol-<hash>
tag="oi-audit-otelcol:${id#otelcol-}"

if [ "${OI_AUDIT_REBUILD_IMAGE:-0}" != "1" ] && docker image inspect "$tag" >/dev/null 2>&1; then
  log "image exists: $tag"
  echo "$tag"
  exit 0
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$ctx/Dockerfile"
cp "$bin" "$ctx/otelcol-oi-audit"
log "docker build -t $tag (context $ctx)"
docker build -q -t "$tag" "$ctx" >&2
echo "$tag"
