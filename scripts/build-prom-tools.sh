#!/usr/bin/env bash
# Build the Prometheus tools the alerting and metrics tests run for real, from the Go module proxy
# (Apache-2.0), and cache them OUTSIDE the repository:
#
#   ${OI_AUDIT_CACHE:-$HOME/.cache/oi-audit}/prom-tools-am<AM>-prom<PROM>/{alertmanager,prometheus,promtool}
#
#   alertmanager  github.com/prometheus/alertmanager/cmd/alertmanager  (the docker-compose.yml image's version)
#   prometheus    github.com/prometheus/prometheus/cmd/prometheus      (module v0.3XY.Z is Prometheus v3.XY.Z)
#   promtool      github.com/prometheus/prometheus/cmd/promtool
#
# The last line on stdout is the directory; progress goes to stderr. When every binary is cached, the
# script only prints the path. A failed build exits non-zero, so test/global-setup.ts fails the run.
#
# The Alertmanager module embeds its web UI from ui/app/dist, which is built by npm in its release
# process and is not part of the module: the build runs from a copy of the module with a placeholder
# page there (the tests use the API only). Prometheus without the `builtinassets` tag serves its UI
# from disk, so `go install` builds it as is.
#
# Environment: OI_AUDIT_CACHE (cache root), OI_AUDIT_REBUILD=1 (build again).
set -euo pipefail

AM_VERSION=v0.35.0
PROM_MODULE_VERSION=v0.316.0 # Prometheus 3.16.0

cache="${OI_AUDIT_CACHE:-${HOME:-/root}/.cache/oi-audit}"
out="$cache/prom-tools-am${AM_VERSION}-prom${PROM_MODULE_VERSION}"

log() { printf '[build-prom-tools] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

have_all() { [ -x "$out/alertmanager" ] && [ -x "$out/prometheus" ] && [ -x "$out/promtool" ]; }

if have_all && [ "${OI_AUDIT_REBUILD:-0}" != "1" ]; then
  log "cached: $out"
  echo "$out"
  exit 0
fi
command -v go >/dev/null 2>&1 || die "Go toolchain not found on PATH (need Go >= 1.25, see docs/collector.md)"

mkdir -p "$out"
exec 9>"$out/.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
  if have_all && [ "${OI_AUDIT_REBUILD:-0}" != "1" ]; then
    log "built by a concurrent run: $out"
    echo "$out"
    exit 0
  fi
fi

# The same Go caches as scripts/build-collector.sh: most modules are shared with the Collector build.
export GOCACHE="$cache/go/build-cache"
export GOMODCACHE="$cache/go/mod"
export GOPATH="$cache/go/path"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export CGO_ENABLED=0
export GOFLAGS="-trimpath"
export GOWORK=off # the Prometheus module has a go.work for its own development
mkdir -p "$GOCACHE" "$GOMODCACHE" "$GOPATH"
start=$(date +%s)

# module@version -> its directory in the module cache (downloaded through the proxy, checked by go.sum/sumdb).
module_dir() {
  (cd "$out" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
}

build_from_copy() { # name module@version package [prepare-fn]
  local name="$1" modver="$2" pkg="$3" prepare="${4:-}"
  [ -x "$out/$name" ] && [ "${OI_AUDIT_REBUILD:-0}" != "1" ] && return 0
  log "building $name from $modver (minutes on a cold cache) ..."
  local dir src
  dir="$(module_dir "$modver")"
  [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download $modver gave no directory"
  src="$(mktemp -d "$out/.src-$name.XXXXXX")"
  cp -R "$dir/." "$src/"
  chmod -R u+w "$src"
  [ -n "$prepare" ] && "$prepare" "$src"
  (cd "$src" && go build -o "$out/$name.tmp" "$pkg") >&2 || { rm -rf "$src"; die "go build $pkg ($modver) failed"; }
  mv -f "$out/$name.tmp" "$out/$name"
  rm -rf "$src"
}

install_tool() { # name package@version
  local name="$1" pkg="$2"
  [ -x "$out/$name" ] && [ "${OI_AUDIT_REBUILD:-0}" != "1" ] && return 0
  log "installing $name ($pkg; minutes on a cold cache) ..."
  local tmp
  tmp="$(mktemp -d "$out/.bin-$name.XXXXXX")"
  GOBIN="$tmp" go install "$pkg" >&2 || { rm -rf "$tmp"; die "go install $pkg failed"; }
  mv -f "$tmp/$name" "$out/$name"
  rm -rf "$tmp"
}

alertmanager_ui_placeholder() {
  mkdir -p "$1/ui/app/dist/elm" "$1/ui/app/dist/mantine"
  for d in elm mantine; do
    printf '<!doctype html><title>Alertmanager</title><p>Web UI not built (oi-audit test build); the API is at /api/v2.\n' >"$1/ui/app/dist/$d/index.html"
  done
}

build_from_copy alertmanager "github.com/prometheus/alertmanager@$AM_VERSION" ./cmd/alertmanager alertmanager_ui_placeholder
install_tool promtool "github.com/prometheus/prometheus/cmd/promtool@$PROM_MODULE_VERSION"
install_tool prometheus "github.com/prometheus/prometheus/cmd/prometheus@$PROM_MODULE_VERSION"

have_all || die "build finished but a binary is missing in $out"
"$out/alertmanager" --version >&2
"$out/promtool" --version >&2
log "built in $(($(date +%s) - start))s: $out"
echo "$out"
