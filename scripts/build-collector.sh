#!/usr/bin/env bash
# Build the oi-audit OpenTelemetry Collector with ocb (OpenTelemetry Collector Builder) from
# collector-config/builder-config.yaml, and cache the binary OUTSIDE the repository:
#
#   ${OI_AUDIT_CACHE:-$HOME/.cache/oi-audit}/otelcol-<first 16 hex of sha256(builder-config.yaml)>/otelcol-oi-audit
#
# The last line on stdout is the binary's path; progress goes to stderr. When the binary for this
# exact manifest is cached, the script does nothing but print the path. The Go build cache, the Go
# module cache and the ocb binary live under the same cache root, so rebuilds after a manifest
# change are fast.
#
# Environment:
#   OI_AUDIT_CACHE   cache root (default $HOME/.cache/oi-audit)
#   OI_AUDIT_BUILDER_CONFIG   manifest to build (default: collector-config/builder-config.yaml)
#   OI_AUDIT_REBUILD=1        ignore the cached binary and build again
#   GONOSUMDB                 default: the contrib module prefix (see below)
#
# collector-config/builder-go.sum is the lock file: it is copied next to the generated go.mod
# before ocb runs `go mod tidy`, so every module is checked against the hashes committed in the
# repository. The checksum database is therefore not needed for modules in the lock; GONOSUMDB
# defaults to the contrib prefix because the module proxy reachable from the project's machines
# has no checksum-database records for several contrib modules. After a build that changed the
# module set, the script says so: copy the new go.sum over the lock and commit it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
manifest="${OI_AUDIT_BUILDER_CONFIG:-$repo/collector-config/builder-config.yaml}"
cache="${OI_AUDIT_CACHE:-${HOME:-/root}/.cache/oi-audit}"

log() { printf '[build-collector] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -f "$manifest" ] || die "manifest not found: $manifest"
command -v go >/dev/null 2>&1 || die "Go toolchain not found on PATH (need Go >= 1.26, see docs/collector.md)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found"

hash="$(sha256sum "$manifest" | cut -c1-16)"
outdir="$cache/otelcol-$hash"
bin="$outdir/otelcol-oi-audit"

if [ -x "$bin" ] && [ "${OI_AUDIT_REBUILD:-0}" != "1" ]; then
  log "cached: $bin"
  echo "$bin"
  exit 0
fi

mkdir -p "$outdir"
# One build at a time per manifest (tests may call this concurrently).
exec 9>"$outdir/.lock"
if command -v flock >/dev/null 2>&1; then
  log "waiting for build lock $outdir/.lock"
  flock 9
  if [ -x "$bin" ] && [ "${OI_AUDIT_REBUILD:-0}" != "1" ]; then
    log "built by a concurrent run: $bin"
    echo "$bin"
    exit 0
  fi
fi

# The ocb version must be the release the manifest pins (core and contrib versions match).
ocb_version="$(sed -n 's#^[[:space:]]*-[[:space:]]*gomod:[[:space:]]*go\.opentelemetry\.io/collector/receiver/otlpreceiver[[:space:]]\{1,\}\(v[0-9][^[:space:]]*\).*#\1#p' "$manifest" | head -n1)"
[ -n "$ocb_version" ] || die "cannot find the otlpreceiver version in $manifest (it fixes the ocb version)"

export GOCACHE="$cache/go/build-cache"
export GOMODCACHE="$cache/go/mod"
export GOPATH="$cache/go/path"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:--trimpath}"
export GONOSUMDB="${GONOSUMDB-github.com/open-telemetry/opentelemetry-collector-contrib}"
lock="$(dirname "$manifest")/builder-go.sum"
mkdir -p "$GOCACHE" "$GOMODCACHE" "$GOPATH" "$cache/bin"

ocb="$cache/bin/ocb-$ocb_version"
start=$(date +%s)
if [ ! -x "$ocb" ]; then
  log "installing ocb $ocb_version (go.opentelemetry.io/collector/cmd/builder) ..."
  tmpbin="$(mktemp -d "$cache/bin/.ocb.XXXXXX")"
  GOBIN="$tmpbin" go install "go.opentelemetry.io/collector/cmd/builder@$ocb_version" >&2
  mv "$tmpbin/builder" "$ocb"
  rmdir "$tmpbin"
fi

src="$outdir/src"
rm -rf "$src"
mkdir -p "$src"
if [ -f "$lock" ]; then
  cp "$lock" "$src/go.sum"
  log "using the module lock $lock"
fi
log "building the Collector from $manifest into $src (go $(go env GOVERSION), GOFLAGS='$GOFLAGS'); this takes minutes on a cold cache ..."
"$ocb" --config="$manifest" --output-path="$src" >&2

if [ -f "$lock" ] && ! cmp -s "$lock" "$src/go.sum"; then
  log "NOTE: go.sum differs from the lock $lock; if the manifest changed, update it: cp '$src/go.sum' '$lock'"
fi
[ -x "$src/otelcol-oi-audit" ] || die "ocb finished but $src/otelcol-oi-audit is missing"
mv -f "$src/otelcol-oi-audit" "$bin.tmp"
mv -f "$bin.tmp" "$bin"
cp -f "$manifest" "$outdir/builder-config.yaml"
end=$(date +%s)
log "built $bin in $((end - start))s ($(du -h "$bin" | cut -f1))"
echo "$bin"
