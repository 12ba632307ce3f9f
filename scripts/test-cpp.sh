#!/usr/bin/env bash
# C++ RAII layer and README examples under AddressSanitizer + UBSan:
#   1. builds the release library (cargo build --release),
#   2. compiles include/engine_slots.hpp standalone with -Wall -Wextra
#      -Wpedantic -Werror,
#   3. builds and runs the GoogleTest suite tests/cpp/*.cpp,
#   4. builds and runs examples/c/quickstart.c and examples/cpp/quickstart.cpp.
# Output goes to target/cpp/. Needs a C/C++ compiler and libgtest-dev.
#   CC, CXX      compilers (default cc, c++)
#   ES_NO_BUILD  set to skip `cargo build --release`
set -euo pipefail
cd "$(dirname "$0")/.."

CC=${CC:-cc}
CXX=${CXX:-c++}
out=target/cpp
lib=target/release/libengine_slots.a
mkdir -p "$out"

if [ -z "${ES_NO_BUILD:-}" ]; then
  ${CARGO:-cargo} build --release --quiet
fi
[ -f "$lib" ] || { echo "$0: missing $lib" >&2; exit 1; }
[ -f /usr/include/gtest/gtest.h ] || [ -n "${GTEST_CFLAGS:-}" ] || {
  echo "$0: GoogleTest not found (apt-get install libgtest-dev)" >&2; exit 1; }

warn=(-Wall -Wextra -Wpedantic -Werror)
san=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1)
# What the Rust standard library in the static archive needs from the system.
syslibs=(-lpthread -ldl -lm)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

step() { printf '\n== %s\n' "$*"; }

step "header compiles on its own (C++17, ${warn[*]})"
printf '#include <engine_slots.hpp>\n#include <engine_slots.hpp>\n' |
  $CXX -std=c++17 "${warn[@]}" -Iinclude -x c++ -fsyntax-only -

step "gtest suite (${san[*]})"
$CXX -std=c++17 "${warn[@]}" "${san[@]}" -Iinclude ${GTEST_CFLAGS:-} \
  tests/cpp/*.cpp "$lib" ${GTEST_LIBS:--lgtest -lgtest_main} -pthread "${syslibs[@]}" \
  -o "$out/raii_test"
"$out/raii_test" --gtest_brief=1

step "examples/c/quickstart.c"
$CC -std=c11 "${warn[@]}" "${san[@]}" -Iinclude examples/c/quickstart.c "$lib" \
  "${syslibs[@]}" -o "$out/quickstart_c"
"$out/quickstart_c"

step "examples/cpp/quickstart.cpp"
$CXX -std=c++17 "${warn[@]}" "${san[@]}" -Iinclude examples/cpp/quickstart.cpp "$lib" \
  "${syslibs[@]}" -o "$out/quickstart_cpp"
"$out/quickstart_cpp"

echo
echo "test-cpp: all green"
