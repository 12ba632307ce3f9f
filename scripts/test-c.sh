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

step "test_api (shared library, no sanitizer)"
"$CC" "${CFLAGS[@]}" tests/c/test_api.c -Ltarget/release -lengine_slots \
  -Wl,-rpath,"$PWD/target/release" "${LIBS[@]}" -o "$OUT/test_api_shared"
"$OUT/test_api_shared"

step "C tests: all green"
