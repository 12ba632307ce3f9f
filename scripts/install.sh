#!/usr/bin/env bash
# Installs engine-slots like a C library:
#   $PREFIX/include/engine_slots.h, engine_slots.hpp
#   $PREFIX/lib/libengine_slots.a, libengine_slots.so
#   $PREFIX/lib/pkgconfig/engine_slots.pc
#
# usage: scripts/install.sh PREFIX        (e.g. /usr/local, $HOME/.local)
#   DESTDIR=/staging scripts/install.sh /usr   stages for packaging: files go
#   under $DESTDIR$PREFIX, the .pc file still says prefix=$PREFIX.
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

install -d "$dest/include" "$dest/lib/pkgconfig"
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

echo "installed engine_slots $version into $dest"
