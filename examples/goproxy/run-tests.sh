#!/usr/bin/env bash
# The reference proxy's test gate:
#   - builds the Rust library (a no-op when it is up to date; skip with
#     --no-build when the caller just built it);
#   - points pkg-config at the build tree, the way the binding's own tests
#     do (bindings/engineslots/buildtree-env.sh), so the proxy builds
#     exactly as it would against an installed library;
#   - gofmt, go vet, go.mod tidiness, and the tests (the 300-client
#     end-to-end test included) with the race detector.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")"
build=1
[ "${1:-}" = --no-build ] && build=

step() { printf '\n== %s\n' "$*"; }

if [ -n "$build" ]; then
  step "cargo build --release"
  (cd ../.. && nice cargo build --release --quiet)
fi

# Exports PKG_CONFIG_PATH (the build tree's engine_slots.pc) and a
# CGO_CFLAGS stamp that makes Go relink when the library changes.
. ../../bindings/engineslots/buildtree-env.sh

step "gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi

step "go mod tidy -diff"
go mod tidy -diff

step "go vet"
go vet ./...

step "go test -race"
go test -race -count=1 -timeout 5m ./...

echo "examples/goproxy: all green"
