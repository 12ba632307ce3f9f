#!/usr/bin/env bash
# Adopting engine-slots from Go as a user outside this repository would, and
# the container recipe of Dockerfile.example as plain commands (the same
# steps; this runs where no container daemon is available):
#
#   lib   (Rust builder)  scripts/install.sh PREFIX   (= make install PREFIX=...)
#   build (Go builder)    a module of its own that requires
#                         github.com/engine-slots/engine-slots/bindings/engineslots
#                         (a replace to a copy of this module made outside the
#                         repository stands in for `go get`: nothing is
#                         published from here), built with cgo and
#                         PKG_CONFIG_PATH=PREFIX/lib/pkgconfig only
#   run   (slim runtime)  the binary alone: the prefix is deleted first, there
#                         is no LD_LIBRARY_PATH, no NEEDED libengine_slots.so
#
# and the same program built with CGO_ENABLED=0: it builds, and New says
# that cgo and the library are needed; and a program with a remote table
# (README "Use from Go", remote mode), built with CGO_ENABLED=0 and run
# against a throw-away redis-server (when redis-server is installed; required
# with ES_REQUIRE_REDIS=1). The prefix has a space in its path
# and holds libengine_slots.so beside the .a, as `make install` leaves it.
set -euo pipefail
cd "$(dirname "$0")"
repo=$(cd ../.. && pwd)
module=github.com/engine-slots/engine-slots/bindings/engineslots
tmp=$(mktemp -d "${TMPDIR:-/tmp}/engineslots-adopt.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix with space"
step() { printf '\n== adopt: %s\n' "$*"; }
fail() { echo "adopt_test.sh: $*" >&2; exit 1; }

# Nothing of this checkout's build environment may help the build below.
unset PKG_CONFIG_PATH CGO_CFLAGS CGO_LDFLAGS LD_LIBRARY_PATH GOFLAGS
export GOWORK=off GOPROXY=off GOFLAGS=-mod=mod
# A build cache of its own: Go keys a cgo package's cache entry without the
# flags pkg-config gives at link time, so a cache shared with an earlier run
# (another temporary prefix) would link against that run's deleted prefix.
export GOCACHE="$tmp/gocache"

step "lib: install into a prefix (scripts/install.sh, what make install runs)"
ES_NO_BUILD=${ES_NO_BUILD:-} "$repo/scripts/install.sh" "$prefix"
for f in lib/libengine_slots.a lib/libengine_slots.so lib/pkgconfig/engine_slots.pc include/engine_slots.h; do
  [ -f "$prefix/$f" ] || fail "$f not installed"
done

step "build: a module outside the repository that requires $module"
cp -R . "$tmp/engineslots"      # what `go get` would put in the module cache
mkdir "$tmp/app"
cat > "$tmp/app/main.go" <<'GO'
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/engine-slots/engine-slots/bindings/engineslots"
)

func main() {
	t, err := engineslots.New(engineslots.DefaultConfig())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	defer t.Close()
	err = t.Sync([]engineslots.EngineInfo{{Key: "engine-1", Capacity: 1, Value: "10.0.0.1:8080"}})
	if err != nil {
		panic(err)
	}
	k, err := t.Reserve()
	if err != nil {
		panic(err)
	}
	defer k.Finish()
	if err := k.Commit(); err != nil {
		panic(err)
	}
	if _, err := t.Reserve(); !errors.Is(err, engineslots.ErrNoCapacity) {
		panic(fmt.Sprint("second reserve: ", err))
	}
	fmt.Printf("engine_slots %s: a stream on %s at %v\n", engineslots.Version(), k.Key(), k.Value())
}
GO
mkdir "$tmp/remote"
cat > "$tmp/remote/main.go" <<'GO'
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/engine-slots/engine-slots/bindings/engineslots"
)

func main() {
	cfg := engineslots.Config{MaxEngines: 64, MaxTickets: 1024, DefaultCapacity: 2,
		PendingLease: 5 * time.Second, ActiveLease: time.Minute}
	url, name := os.Args[1], os.Args[2]
	a, err := engineslots.OpenRedis(url, name, &cfg)
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := engineslots.OpenRedis(url, name, nil) // a second proxy
	if err != nil {
		panic(err)
	}
	defer b.Close()
	list := []engineslots.EngineInfo{{Key: "engine-1", Capacity: 1, Value: "10.0.0.1:8080"}}
	for _, t := range []*engineslots.Table{a, b} {
		if err := t.Sync(list); err != nil {
			panic(err)
		}
	}
	k, err := a.Reserve()
	if err != nil {
		panic(err)
	}
	defer k.Finish()
	if err := k.Commit(); err != nil {
		panic(err)
	}
	if _, err := b.Reserve(); !errors.Is(err, engineslots.ErrNoCapacity) {
		panic(fmt.Sprint("the other proxy's reserve: ", err))
	}
	fmt.Printf("remote, cgo %q: a stream on %s at %v; the other proxy: %v\n",
		engineslots.Version(), k.Key(), k.Value(), engineslots.ErrNoCapacity)
}
GO
(
  cd "$tmp/remote"
  go mod init example.com/adopt-remote >/dev/null 2>&1
  go mod edit -require="$module@v0.0.0" -replace="$module=$tmp/engineslots"
  go mod tidy >/dev/null 2>&1
  step "build: a remote-table program with CGO_ENABLED=0 (no C library, no pkg-config)"
  CGO_ENABLED=0 go build -o "$tmp/remote/app-remote" .
)
(
  cd "$tmp/app"
  go mod init example.com/adopt >/dev/null 2>&1
  go mod edit -require="$module@v0.0.0" -replace="$module=$tmp/engineslots"
  go mod tidy >/dev/null 2>&1 # the binding's own dependencies (go-redis) into go.sum
  export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
  echo "pkg-config --libs: $(pkg-config --libs engine_slots)"
  CGO_ENABLED=1 go build -trimpath -o "$tmp/app/app" .
  step "build: CGO_ENABLED=0 (what many Go Dockerfiles set)"
  CGO_ENABLED=0 go build -o "$tmp/app/app-nocgo" .
)

step "the binary links the library statically"
if readelf -d "$tmp/app/app" | grep NEEDED | grep -q engine_slots; then
  readelf -d "$tmp/app/app" | grep NEEDED >&2
  fail "the binary needs libengine_slots.so"
fi
readelf -d "$tmp/app/app" | grep NEEDED | sed 's/^ */  /'
ldd "$tmp/app/app" | grep -q "$prefix" && fail "ldd finds the prefix: $(ldd "$tmp/app/app")"

step "run: the binary alone, the prefix gone, no LD_LIBRARY_PATH"
mkdir "$tmp/runtime"
cp "$tmp/app/app" "$tmp/app/app-nocgo" "$tmp/remote/app-remote" "$tmp/runtime/"
rm -rf "$prefix" "$tmp/engineslots"
out=$(env -u LD_LIBRARY_PATH "$tmp/runtime/app") || fail "app failed: $out"
echo "$out"
case $out in *"a stream on engine-1 at 10.0.0.1:8080"*) ;; *) fail "unexpected output";; esac

step "run: the CGO_ENABLED=0 binary says what it needs"
set +e
msg=$("$tmp/runtime/app-nocgo" 2>&1)
rc=$?
set -e
echo "$msg"
[ $rc -eq 3 ] || fail "CGO_ENABLED=0 binary exited $rc, want 3 (New's error)"
case $msg in *cgo*CGO_ENABLED*"Use from Go"*) ;; *) fail "New's error does not explain cgo";; esac

step "run: the CGO_ENABLED=0 remote-table program against a throw-away redis-server"
if ! command -v redis-server >/dev/null; then
  [ "${ES_REQUIRE_REDIS:-}" = 1 ] && fail "ES_REQUIRE_REDIS=1 but redis-server is not on PATH"
  echo "note: redis-server not on PATH: not run"
else
  redis_pid=
  trap '[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
  for attempt in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
      --daemonize no --loglevel warning &
    redis_pid=$!
    for _ in $(seq 50); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break 2
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null || true
    redis_pid=
  done
  [ -n "$redis_pid" ] || fail "redis-server did not start"
  out=$("$tmp/runtime/app-remote" "redis://127.0.0.1:$port" adopt) || fail "remote app failed: $out"
  echo "$out"
  case $out in *'remote, cgo "": a stream on engine-1 at 10.0.0.1:8080; the other proxy: '*) ;;
    *) fail "unexpected output";; esac
  kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
  redis_pid=
fi

echo "adopt_test.sh: ok"
