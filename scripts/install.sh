#!/usr/bin/env bash
# Installs engine-slots like a C library:
#   $PREFIX/include/engine_slots.h, engine_slots.hpp
#   $PREFIX/lib/libengine_slots.a, libengine_slots.so
#   $PREFIX/lib/pkgconfig/engine_slots.pc
#   $PREFIX/lib/cmake/engine_slots/engine_slotsConfig.cmake, ...ConfigVersion.cmake
#       (from cmake/*.in: find_package(engine_slots CONFIG), targets
#       engine_slots::engine_slots and engine_slots::engine_slots_static)
#
# usage: scripts/install.sh PREFIX        (e.g. /usr/local, $HOME/.local)
#   DESTDIR=/staging scripts/install.sh /usr   stages for packaging: files go
#   under $DESTDIR$PREFIX, the .pc file still says prefix=$PREFIX (the CMake
#   package names no path: it finds the prefix from its own location).
#   ES_NO_BUILD=1 skips `cargo build --release` (the libraries must exist).
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 PREFIX" >&2; exit 2; }
prefix=$(realpath -m -- "$1")   # the .pc file needs an absolute prefix
dest="${DESTDIR:-}$prefix"

if [ -z "${ES_NO_BUILD:-}" ]; then
  ${CARGO:-cargo} build --release --quiet
fi
for f in include/engine_slots.h include/engine_slots.hpp \
         target/release/libengine_slots.a target/release/libengine_slots.so; do
  [ -f "$f" ] || { echo "$0: missing $f" >&2; exit 1; }
done

# The version of the [package] section of Cargo.toml.
version=$(awk '/^\[/{pkg = ($0 == "[package]")}
               pkg && $1 == "version" {gsub(/[" ]/, "", $3); print $3; exit}' Cargo.toml)
[ -n "$version" ] || { echo "$0: no version in Cargo.toml" >&2; exit 1; }

install -d "$dest/include" "$dest/lib/pkgconfig" "$dest/lib/cmake/engine_slots"
install -m 0644 include/engine_slots.h include/engine_slots.hpp "$dest/include/"
install -m 0644 target/release/libengine_slots.a "$dest/lib/"
install -m 0755 target/release/libengine_slots.so "$dest/lib/"

# Libs.private: what the Rust standard library inside the static archive
# needs from the system when linking with `pkg-config --static`.
# pkg-config splits flags on blanks: a space in the prefix is escaped.
cat > "$dest/lib/pkgconfig/engine_slots.pc" <<PC
prefix=${prefix// /\\ }
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: engine_slots
Description: Embedded lock-free allocator of stream slots on backend engines
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lengine_slots
Libs.private: -lpthread -ldl -lm
PC
chmod 0644 "$dest/lib/pkgconfig/engine_slots.pc"

# CMake package. Its version file compares numbers only: no "-rc.1" suffix.
# The pointer size is the library's (ELF class byte: 1 = 32-bit, 2 = 64-bit);
# the SONAME, if the library has one, tells CMake how to link it.
so=target/release/libengine_slots.so
case $(od -An -tu1 -j4 -N1 "$so" | tr -d ' ') in
  1) sizeof_void_p=4 ;;
  2) sizeof_void_p=8 ;;
  *) echo "$0: $so is not an ELF library" >&2; exit 1 ;;
esac
soname=$( (objdump -p "$so" 2>/dev/null || true) | awk '$1 == "SONAME" {print $2}')
cmake_dir="$dest/lib/cmake/engine_slots"
sed -e "s/@ES_SONAME@/$soname/g" \
  cmake/engine_slotsConfig.cmake.in > "$cmake_dir/engine_slotsConfig.cmake"
sed -e "s/@ES_VERSION@/${version%%[-+]*}/g" -e "s/@ES_SIZEOF_VOID_P@/$sizeof_void_p/g" \
  cmake/engine_slotsConfigVersion.cmake.in > "$cmake_dir/engine_slotsConfigVersion.cmake"
chmod 0644 "$cmake_dir/engine_slotsConfig.cmake" "$cmake_dir/engine_slotsConfigVersion.cmake"

echo "installed engine_slots $version into $dest"
