#!/usr/bin/env bash
# Installs engine-slots into a temporary prefix with scripts/install.sh, then
# builds a small C program against the installed copy only, through
# pkg-config: once against the shared library (run with LD_LIBRARY_PATH) and
# once fully static (`pkg-config --static`, no engine_slots.so needed).
# Removes the prefix afterwards. Then tests/install/cmake.sh does the same
# through the CMake package.
set -euo pipefail
cd "$(dirname "$0")/../.."

CC=${CC:-cc}
command -v pkg-config >/dev/null || { echo "$0: pkg-config not found" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/engine-slots-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix with space"   # paths with spaces must survive

step() { printf '\n== %s\n' "$*"; }

step "scripts/install.sh into a temporary prefix"
scripts/install.sh "$prefix"
for f in include/engine_slots.h include/engine_slots.hpp lib/libengine_slots.a \
         lib/libengine_slots.so lib/pkgconfig/engine_slots.pc; do
  [ -f "$prefix/$f" ] || { echo "$0: $f not installed" >&2; exit 1; }
done

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
version=$(pkg-config --modversion engine_slots)
cargo_version=$(awk '/^\[/{p = ($0 == "[package]")} p && $1 == "version" {gsub(/"/, "", $3); print $3; exit}' Cargo.toml)
[ "$version" = "$cargo_version" ] || { echo "$0: .pc version $version != $cargo_version" >&2; exit 1; }
echo "pkg-config: engine_slots $version"
echo "  --cflags --libs:          $(pkg-config --cflags --libs engine_slots)"
echo "  --static --cflags --libs: $(pkg-config --static --cflags --libs engine_slots)"

# The test program: built from a copy outside the source tree, so nothing
# but the installed files can be found.
cat > "$tmp/app.c" <<'C'
#include <engine_slots.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  es_config cfg = {.max_engines = 2, .max_tickets = 4, .default_capacity = 1};
  es_table *t;
  es_engine e, picked;
  es_ticket k;
  es_engine_stats s;
  if (es_table_new(&cfg, &t) != ES_OK) return 1;
  int ok = es_engine_add(t, (const uint8_t *)"installed", 9, 0, &e) == ES_OK
        && es_reserve(t, &k, &picked) == ES_OK && picked == e
        && es_reserve(t, &(es_ticket){0}, &picked) == ES_NO_CAPACITY
        && es_commit(t, k) == ES_OK
        && es_engine_stats_get(t, e, &s) == ES_OK && s.active == 1
        && es_release(t, k) == ES_OK;
  es_table_free(t);
  printf("engine_slots %s from the installed copy: %s\n", es_version(), ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
C

# pkg-config quotes the space in the prefix as "\ "; eval undoes it.
step "dynamic: cc app.c \$(pkg-config --cflags --libs engine_slots)"
eval "$CC -std=c11 -Wall -Wextra -Werror \"\$tmp/app.c\" -o \"\$tmp/app\" \
  $(pkg-config --cflags --libs engine_slots)"
ldd "$tmp/app" | grep -q 'libengine_slots.so' || { echo "$0: not linked to the .so" >&2; exit 1; }
LD_LIBRARY_PATH="$prefix/lib" "$tmp/app"

step "static: cc -static app.c \$(pkg-config --static --cflags --libs engine_slots)"
# Link warnings from glibc about functions the Rust runtime could dlopen are
# expected in a fully static binary; they are not errors.
eval "$CC -std=c11 -Wall -Wextra -Werror -static \"\$tmp/app.c\" -o \"\$tmp/app-static\" \
  $(pkg-config --static --cflags --libs engine_slots)" 2> "$tmp/ld.log" || {
  cat "$tmp/ld.log" >&2; exit 1; }
if ldd "$tmp/app-static" >/dev/null 2>&1; then
  echo "$0: app-static is dynamically linked" >&2; exit 1
fi
env -u LD_LIBRARY_PATH "$tmp/app-static"

step "C++: the RAII header from the installed copy"
if command -v "${CXX:-c++}" >/dev/null; then
  printf '#include <engine_slots.hpp>\nint main() { engine_slots::Table t(engine_slots::Config{}); return t.add_engine("x") ? 0 : 1; }\n' \
    > "$tmp/app.cpp"
  eval "${CXX:-c++} -std=c++17 -Wall -Wextra -Wpedantic -Werror \"\$tmp/app.cpp\" -o \"\$tmp/app-cpp\" \
    $(pkg-config --static --cflags --libs engine_slots) -static" 2> "$tmp/ld.log" || {
    cat "$tmp/ld.log" >&2; exit 1; }
  "$tmp/app-cpp"
  echo "C++ header ok"
fi

step "CMake package: tests/install/cmake.sh"
ES_NO_BUILD=1 tests/install/cmake.sh

echo
echo "tests/install: all green"
