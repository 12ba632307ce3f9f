#!/usr/bin/env bash
# The Go binding's test gate: builds the Rust static library, then vet,
# gofmt, and the tests with the race detector, once normally and once with
# GOGC=1 (the collector runs constantly), with cgo pointer checks on.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")"

echo "== cargo build --release"
(cd ../.. && cargo build --release)

# Go's build cache does not notice a changed static library (golang/go#24355),
# so a stale test binary could run the old Rust code. Stamping the link with
# the library's hash makes every library change relink.
stamp=$(sha256sum ../../target/release/libengine_slots.a | cut -c1-16)
ldflags="-X github.com/engine-slots/engine-slots/bindings/go.libStamp=$stamp"

export GODEBUG=cgocheck=1

echo "== go vet"
go vet ./...

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go test -race"
go test -race -count=1 -ldflags="$ldflags" ./...

echo "== GOGC=1 go test -race"
GOGC=1 go test -race -count=1 -ldflags="$ldflags" ./...

echo "bindings/go: all green"
