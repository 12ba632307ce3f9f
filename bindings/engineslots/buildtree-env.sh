# Sourced (not run), from any directory, by run-tests.sh, bench.sh and
# anything else in this repository that builds the package (for example a
# Go program under examples/ with a replace to ../../bindings/engineslots):
# the environment that builds it from this checkout.
#
#   . bindings/engineslots/buildtree-env.sh && go test ./...
#
# pkg-config finds the build tree's engine_slots.pc first (buildtree-pc.sh),
# so the package builds exactly as it does against an installed prefix.
#
# Go's build cache does not notice a changed C header or static library
# (golang/go#24355), so a stale test binary could run old Rust code. A
# define carrying their hash is part of every cgo compile's cache key, so
# any change to either recompiles and relinks.
es_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PKG_CONFIG_PATH="$("$es_dir/buildtree-pc.sh")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
# (Before the first build only the header exists: vet needs no library.)
es_stamp=$( (cat "$es_dir/../../include/engine_slots.h" \
  "$es_dir/../../target/release/libengine_slots.a" 2>/dev/null || true) | sha256sum | cut -c1-16)
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -DENGINE_SLOTS_BUILD_STAMP=$es_stamp"
unset es_dir es_stamp
