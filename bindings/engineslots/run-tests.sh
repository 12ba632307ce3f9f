#!/usr/bin/env bash
# The Go binding's test gate (make test-go):
#   - builds the Rust library, points pkg-config at the build tree
#     (buildtree-pc.sh), so the package builds exactly as it does against an
#     installed prefix;
#   - go vet and the tests without cgo (CGO_ENABLED=0: New says ErrNoCgo;
#     the tests of every method run on remote tables, pure Go, against
#     throw-away redis-servers);
#   - go vet, gofmt, and the tests with the race detector, once normally
#     and once with GOGC=1 (the collector runs constantly), with cgo
#     pointer checks on, each on both backends: the tests of every method
#     on an in-process table (ES_GO_TEST_BACKEND=local) and on a remote one
#     (ES_GO_TEST_BACKEND=redis; backend_test.go);
#   - adopt_test.sh: a program outside the repository, built against a
#     `make install` prefix, the way the README's "Use from Go" says.
#
#   run-tests.sh --lint    vet (with and without cgo) and gofmt only (make lint)
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")"
lint_only=
[ "${1:-}" = --lint ] && lint_only=1

step() { printf '\n== %s (at %ds)\n' "$*" "$SECONDS"; }

if [ -z "$lint_only" ]; then
  step "cargo build --release"
  (cd ../.. && nice cargo build --release --quiet)
fi

. ./buildtree-env.sh
export GODEBUG=cgocheck=1

step "gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi

step "go vet (cgo)"
go vet ./...
step "go vet (CGO_ENABLED=0)"
CGO_ENABLED=0 go vet ./...
[ -n "$lint_only" ] && exit 0

# The remote-table tests start throw-away redis-servers; when redis-server is
# installed they must run (ES_REQUIRE_REDIS=1: fail rather than skip).
if command -v redis-server >/dev/null; then
  export ES_REQUIRE_REDIS=1
else
  echo "note: redis-server not on PATH: the remote-table tests skip" >&2
fi

step "CGO_ENABLED=0 go test (every method on remote tables, pure Go)"
CGO_ENABLED=0 ES_GO_TEST_BACKEND=redis go test -count=1 ./...

for backend in local redis; do
  export ES_GO_TEST_BACKEND=$backend
  step "go test -race ($backend tables)"
  go test -race -count=1 ./...

  step "GOGC=1 go test -race ($backend tables)"
  GOGC=1 go test -race -count=1 ./...
done
unset ES_GO_TEST_BACKEND

step "adopt_test.sh"
./adopt_test.sh

echo "bindings/engineslots: all green (${SECONDS}s)"
