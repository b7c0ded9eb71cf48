#!/usr/bin/env bash
# Builds Jaeger v2 (the all-in-one binary, OTLP in, query API out) once into a
# cache directory and prints the binary's path. Idempotent: a second run only
# prints the path. `go install …@version` is refused (Jaeger's go.mod has a
# replace directive), so the module is downloaded from the Go module proxy,
# copied out of the read-only module cache and built in its own directory.
#
#   JAEGER_VERSION   the pinned version (default below; internal/jaegertest reads the same file)
#   VERDICT_CACHE    cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/verdict)
set -euo pipefail
version="${JAEGER_VERSION:-v1.76.0}"
cache="${VERDICT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/verdict}"
dir="$cache/jaeger-$version"
bin="$dir/jaeger"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
work="$(mktemp -d "$cache/jaeger-build.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
src="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/jaegertracing/jaeger@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$src" ] || [ ! -d "$src" ]; then
  echo "jaeger.sh: go mod download of github.com/jaegertracing/jaeger@$version gave no directory" >&2
  exit 1
fi
cp -r "$src" "$work/src"
chmod -R u+w "$work/src"
start=$(date +%s)
(cd "$work/src" && GOFLAGS=-buildvcs=false go build -trimpath -o "$work/jaeger" ./cmd/jaeger)
echo "jaeger.sh: built jaeger $version in $(( $(date +%s) - start ))s" >&2
mkdir -p "$dir"
mv "$work/jaeger" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$bin"
