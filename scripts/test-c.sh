#!/usr/bin/env bash
# C tests of the C ABI: builds the release library, then compiles and runs
# tests/c/*.c against target/release/libengine_slots.a under AddressSanitizer
# and UndefinedBehaviorSanitizer, checks include/engine_slots.h alone as C11
# and C++17, and runs the API test once more against the shared library.
# Build outputs go to target/c/. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

CC="${CC:-gcc}"
CXX="${CXX:-g++}"
OUT=target/c
LIB=target/release/libengine_slots.a
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"

WARN=(-Wall -Wextra -Wpedantic -Werror)
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
CFLAGS=(-std=c11 "${WARN[@]}" -g -O1 -Iinclude -Itests/c "-DES_EXPECTED_VERSION=\"$VERSION\"")
LIBS=(-lpthread -ldl -lm)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

step() { printf '\n== %s\n' "$*"; }

step "cargo build --release"
cargo build --release
mkdir -p "$OUT"

step "header alone: C11 and C++17"
"$CC" -std=c11 "${WARN[@]}" -x c -fsyntax-only include/engine_slots.h
"$CXX" -std=c++17 "${WARN[@]}" -x c++ -fsyntax-only include/engine_slots.h
if command -v clang >/dev/null; then
  clang -std=c11 "${WARN[@]}" -x c -fsyntax-only include/engine_slots.h
  clang -std=c++17 "${WARN[@]}" -x c++ -fsyntax-only include/engine_slots.h
fi

for t in test_version test_api test_leases test_stress test_shared; do
  step "$t (static library, ASan+UBSan)"
  "$CC" "${CFLAGS[@]}" "${SAN[@]}" "tests/c/$t.c" "$LIB" "${LIBS[@]}" -o "$OUT/$t"
  "$OUT/$t"
done

# Remote tables: throw-away redis-servers on free localhost ports, stopped
# whatever happens (trap). Without redis-server the test is skipped loudly,
# unless ES_REQUIRE_REDIS=1 (make test), where that is a failure.
REDIS_PIDS=()
stop_redis() {
  for p in "${REDIS_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  REDIS_PIDS=()
}
trap stop_redis EXIT
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
# start_redis VAR [args...]: starts a server, stores its port in VAR.
start_redis() {
  local var=$1 port pid i; shift
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --daemonize no --logfile '' --loglevel warning "$@" >/dev/null 2>&1 &
    pid=$!
    for i in $(seq 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        REDIS_PIDS+=("$pid"); printf -v "$var" '%s' "$port"; export "${var?}"; return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
  done
  echo "test-c.sh: could not start redis-server" >&2; return 1
}
if command -v redis-server >/dev/null; then
  step "test_remote (static library, ASan+UBSan, against redis-server)"
  start_redis ES_REDIS_PORT
  start_redis ES_REDIS_AUTH_PORT --requirepass pw
  start_redis ES_REDIS_NOFCALL_PORT --rename-command FCALL ''
  ES_REDIS_DEAD_PORT=$(free_port); export ES_REDIS_DEAD_PORT
  "$CC" "${CFLAGS[@]}" "${SAN[@]}" tests/c/test_remote.c "$LIB" "${LIBS[@]}" -o "$OUT/test_remote"
  "$OUT/test_remote"
  stop_redis
elif [ "${ES_REQUIRE_REDIS:-0}" = 1 ]; then
  echo "test-c.sh: redis-server is required (ES_REQUIRE_REDIS=1) but not found" >&2
  exit 1
else
  printf '\n*** SKIPPED test_remote: no redis-server (apt-get install redis-server) ***\n'
fi

step "test_api (shared library, no sanitizer)"
"$CC" "${CFLAGS[@]}" tests/c/test_api.c -Ltarget/release -lengine_slots \
  -Wl,-rpath,"$PWD/target/release" "${LIBS[@]}" -o "$OUT/test_api_shared"
"$OUT/test_api_shared"

step "C tests: all green"
