#!/usr/bin/env bash
# The CMake package of `make install`, used as a CMake project would use it.
#
# Stages an install with DESTDIR under a temporary directory whose path has
# spaces (so the package can only work if it finds its prefix from its own
# location: it never sees the path it is used from), then, in a CMake
# project created outside the repository (a path with spaces too):
#   - find_package(engine_slots MAJOR.MINOR CONFIG REQUIRED) through
#     CMAKE_PREFIX_PATH, as a user would;
#   - builds a C program (the C ABI and the version macros) and a C++ program
#     (the RAII header), each against engine_slots::engine_slots (shared) and
#     engine_slots::engine_slots_static, with -Wall -Wextra -Wpedantic -Werror;
#   - runs all four, the shared ones without LD_LIBRARY_PATH (CMake's build
#     RPATH), and checks how each is linked;
#   - checks which versions the package accepts (same major.minor while the
#     major is 0) and that unknown components are refused.
# Called by tests/install/run.sh (make test-install). Needs cmake, cc, c++.
#   ES_NO_BUILD  set to skip `cargo build --release`
set -euo pipefail
cd "$(dirname "$0")/../.."

me=tests/install/cmake.sh
die() { echo "$me: $*" >&2; exit 1; }
command -v cmake >/dev/null || die "cmake not found (make deps installs it)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/engine-slots-cmake.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage="$tmp/staging area"
prefix="/opt/engine slots"        # only ever staged: never created
root="$stage$prefix"              # where the package really is
project="$tmp/consumer project"   # the CMake user's project, outside the repo
build="$project/build dir"

step() { printf '\n== %s\n' "$*"; }

step "DESTDIR='$stage' scripts/install.sh '$prefix'"
DESTDIR="$stage" scripts/install.sh "$prefix"
for f in engine_slotsConfig.cmake engine_slotsConfigVersion.cmake; do
  [ -f "$root/lib/cmake/engine_slots/$f" ] || die "lib/cmake/engine_slots/$f not installed"
done
if grep -nF -e "$stage" -e "$prefix" -e "$PWD" "$root"/lib/cmake/engine_slots/*.cmake; then
  die "the CMake package names an absolute path (above): it would not be relocatable"
fi

version=$(awk '/^\[/{p = ($0 == "[package]")} p && $1 == "version" {gsub(/"/, "", $3); print $3; exit}' Cargo.toml)
version=${version%%[-+]*}
IFS=. read -r major minor patch <<<"$version"
series="$major.$minor"

mkdir -p "$project"
cat > "$project/app.c" <<'C'
/* A C user of the installed package: the C ABI and the version macros. */
#include <engine_slots.h>
#include <stdio.h>
#include <string.h>

#if !defined(ES_VERSION_MAJOR) || !defined(ES_VERSION_MINOR) || !defined(ES_VERSION_PATCH)
#error "no version macros in the installed engine_slots.h"
#endif

int main(int argc, char **argv) {
  es_config cfg = {.max_engines = 2, .max_tickets = 4, .default_capacity = 1};
  es_table *t;
  es_engine e, picked;
  es_ticket k, k2;
  es_engine_stats s;
  (void)argc;
  if (es_table_new(&cfg, &t) != ES_OK) return 1;
  int ok = es_engine_add(t, (const uint8_t *)"cmake", 5, 0, &e) == ES_OK
        && es_reserve(t, &k, &picked) == ES_OK && picked == e
        && es_reserve(t, &k2, &picked) == ES_NO_CAPACITY
        && es_commit(t, k) == ES_OK
        && es_engine_stats_get(t, e, &s) == ES_OK && s.active == 1
        && es_release(t, k) == ES_OK
        && es_release(t, k) == ES_ERR_STALE
        && strcmp(es_version(), ES_VERSION_STRING) == 0;
  es_table_free(t);
  printf("%s: engine_slots %s, header %d.%d.%d: %s\n", argv[0], es_version(), ES_VERSION_MAJOR,
         ES_VERSION_MINOR, ES_VERSION_PATCH, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
C
cat > "$project/app.cpp" <<'CPP'
// A C++ user of the installed package: the RAII header.
#include <engine_slots.hpp>
#include <cstdio>
#include <optional>

namespace es = engine_slots;

int main(int, char** argv) try {
  es::Table table(es::Config{}.engines(2).tickets(4).capacity(1));
  es::Engine e = table.add_engine("cmake");
  {
    std::optional<es::Ticket> ticket = table.reserve();
    if (!ticket || ticket->engine() != e || table.reserve()) return 1;  // full now
    ticket->commit();
    if (table.stats(e).active() != 1) return 1;
  }  // the ticket releases itself here
  bool ok = table.stats(e).active() == 0 && table.reserve().has_value();
  std::printf("%s: engine_slots %s, RAII: %s\n", argv[0], es::version(), ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
} catch (const es::Error& err) {
  std::fprintf(stderr, "%s\n", err.what());
  return 1;
}
CPP
cat > "$project/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(engine_slots_consumer C CXX)

find_package(engine_slots ${ES_SERIES} CONFIG REQUIRED)
message(STATUS "engine_slots ${engine_slots_VERSION} from ${engine_slots_DIR}")

set(CMAKE_C_STANDARD 11)
set(CMAKE_CXX_STANDARD 17)   # engine_slots.hpp needs C++17
set(CMAKE_CXX_STANDARD_REQUIRED ON)

foreach(lang c cpp)
  add_executable(app_${lang} app.${lang})
  target_link_libraries(app_${lang} PRIVATE engine_slots::engine_slots)
  add_executable(app_${lang}_static app.${lang})
  target_link_libraries(app_${lang}_static PRIVATE engine_slots::engine_slots_static)
  foreach(app app_${lang} app_${lang}_static)
    target_compile_options(${app} PRIVATE -Wall -Wextra -Wpedantic -Werror)
  endforeach()
endforeach()
CMAKE

step "cmake: find_package(engine_slots $series CONFIG REQUIRED), CMAKE_PREFIX_PATH='$root'"
cmake -S "$project" -B "$build" -DCMAKE_PREFIX_PATH="$root" -DES_SERIES="$series" \
  -DCMAKE_BUILD_TYPE=Release >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log" >&2; exit 1; }
grep 'engine_slots ' "$tmp/configure.log"
step "cmake --build: app_c, app_c_static, app_cpp, app_cpp_static"
cmake --build "$build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }

step "run (no LD_LIBRARY_PATH)"
for app in app_c app_cpp; do
  # Shared: linked as -lengine_slots (the library has no SONAME, so a
  # full-path link would record the staging path), found through the build
  # RPATH that CMake sets.
  needed=$(readelf -d "$build/$app" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  grep -qx 'libengine_slots.so' <<<"$needed" ||
    die "$app does not need libengine_slots.so by name; NEEDED: $(echo $needed)"
  env -u LD_LIBRARY_PATH "$build/$app"
  # Static: nothing of engine_slots is loaded at run time.
  if readelf -d "$build/${app}_static" | grep -q 'libengine_slots'; then
    die "${app}_static needs libengine_slots.so"
  fi
  env -u LD_LIBRARY_PATH "$build/${app}_static"
done

# Which requests find the package: a project that only calls find_package
# (quietly, in the staged prefix only) and prints FOUND or NOTFOUND for each.
step "version compatibility of $version (0.x: the same major.minor only)"
probe="$tmp/probe"
mkdir -p "$probe"
cat > "$probe/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(engine_slots_versions C)
foreach(request IN LISTS REQUESTS)
  string(REPLACE " " ";" args "${request}")
  if(request STREQUAL "-")   # no version
    set(args "")
  endif()
  unset(engine_slots_DIR CACHE)
  unset(engine_slots_FOUND)
  find_package(engine_slots ${args} CONFIG QUIET NO_DEFAULT_PATH PATHS "${ROOT}")
  if(engine_slots_FOUND)
    message(STATUS "request [${request}]: FOUND")
  else()
    message(STATUS "request [${request}]: NOTFOUND")
  endif()
endforeach()
CMAKE
# request|expected ("-": no version)
cases=(
  "-|FOUND"
  "$series|FOUND"
  "$version|FOUND"
  "$version EXACT|FOUND"
  "$major.$minor.$((patch + 1))|NOTFOUND"
  "$major.$((minor + 1))|NOTFOUND"
  "$((major + 1)).0|NOTFOUND"
  "$series COMPONENTS no_such_component|NOTFOUND"
)
if [ "$minor" -gt 0 ]; then
  # An older minor: compatible from 1.0 on, not while the major is 0.
  cases+=("$major.$((minor - 1))|$([ "$major" -gt 0 ] && echo FOUND || echo NOTFOUND)")
fi
if cmake --version | awk 'NR == 1 {split($3, v, "."); exit !(v[1] > 3 || (v[1] == 3 && v[2] >= 19))}'; then
  # Version ranges (CMake 3.19+): any version inside the range is accepted.
  cases+=("$major.0...$((major + 1)).0|FOUND"
          "$series...<$major.$((minor + 1))|FOUND"
          "$major.$((minor + 1))...$((major + 1)).0|NOTFOUND")
fi
requests=""
for c in "${cases[@]}"; do requests+="${requests:+;}${c%|*}"; done
cmake -S "$probe" -B "$probe/build" -DROOT="$root" "-DREQUESTS=$requests" \
  >"$tmp/probe.log" 2>&1 || { cat "$tmp/probe.log" >&2; exit 1; }
fail=0
for c in "${cases[@]}"; do
  request=${c%|*} want=${c##*|}
  got=$(sed -n "s/^-- request \[$(printf '%s' "$request" | sed 's/[.[*^$]/\\&/g')\]: //p" "$tmp/probe.log")
  printf '  find_package(engine_slots %-36s -> %s\n' "$request)" "$got"
  [ "$got" = "$want" ] || { echo "    expected $want" >&2; fail=1; }
done
[ "$fail" = 0 ] || die "the version file accepts the wrong versions (above)"

echo
echo "tests/install/cmake.sh: all green"
