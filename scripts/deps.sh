#!/usr/bin/env bash
# Installs what `make test` needs and a fresh Debian 12 machine of this
# project's kind lacks; `make test` runs it first (it is `make deps`).
#
# Idempotent: each prerequisite is checked first by a command or a file (no
# package database query, no network), so when nothing is missing it changes
# nothing and returns at once. What is missing comes from Debian's packages
# through apt-get (with sudo when not root), never from anywhere else:
#   gcc, g++, make        the C and C++ tests
#   clang, libFuzzer      tests/fuzz (libclang-rt-N-dev for clang N; 14 on Debian 12)
#   libgtest-dev          GoogleTest, tests/cpp
#   pkg-config, cmake     tests/install (the .pc file and the CMake package)
#   redis-server          the remote-table tests (Debian 12: Redis 7.0)
#   linux-perf            profiling only: optional, tried only along with the
#                         others; failing to get it is a warning
# plus the rustfmt and clippy components through rustup (make lint).
# Cargo and Go are prerequisites, not installed here: without them, or
# without apt-get when a package is missing, it stops with one line saying
# what to install.
#
# ES_DEPS_DRY_RUN=1 only prints what it would install.
set -euo pipefail

me=scripts/deps.sh
die() { echo "$me: $*" >&2; exit 1; }
dry=${ES_DEPS_DRY_RUN:-}

# 1. The toolchains this script does not install.
if ! command -v cargo >/dev/null && ! command -v go >/dev/null; then
  die "install Rust (cargo; rustc 1.82 or later) and Go (1.21 or later), then run make test again"
elif ! command -v cargo >/dev/null; then
  die "install Rust (cargo; rustc 1.82 or later), then run make test again"
elif ! command -v go >/dev/null; then
  die "install Go (1.21 or later), then run make test again"
fi

# 2. Debian packages, each with what shows it is already there (commands,
#    or absolute paths that may be globs; any one of them is enough).
required=()
want() { # want PACKAGE PROBE...
  local pkg=$1 probe
  shift
  for probe in "$@"; do
    case $probe in
      /*) if compgen -G "$probe" >/dev/null; then return 0; fi ;;
      *) if command -v "$probe" >/dev/null; then return 0; fi ;;
    esac
  done
  required+=("$pkg")
}
want gcc cc
want g++ c++
want make make
want pkg-config pkg-config
want cmake cmake
want libgtest-dev /usr/include/gtest/gtest.h
want redis-server redis-server
want clang clang

# libFuzzer ships apart from clang, versioned like it. A clang that is
# already there says where its runtime belongs and which version it is;
# otherwise the distribution's clang package says which clang-N it brings
# (asked after apt-get update; 14 on Debian 12).
fuzzer_rt() { echo "$(clang -print-resource-dir)/lib/linux/libclang_rt.fuzzer-$(uname -m).a"; }
rt_of_new_clang=""
if command -v clang >/dev/null; then
  [ -e "$(fuzzer_rt)" ] || required+=("libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev")
else
  rt_of_new_clang="libclang-rt-N-dev"
fi

# Optional, and only tried along with a required package: a machine that
# lacks only perf (or cannot have it) must not pay an apt-get run each time.
optional=()
command -v perf >/dev/null || optional+=(linux-perf)

if [ ${#required[@]} -gt 0 ]; then
  if [ -n "$dry" ]; then
    echo "$me: would install with apt-get: ${required[*]} $rt_of_new_clang (and optionally ${optional[*]:-nothing})"
  else
    command -v apt-get >/dev/null ||
      die "no apt-get here: install ${required[*]} $rt_of_new_clang (Debian names) with your package manager, then run make test again"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null ||
        die "not root and no sudo: as root run apt-get install ${required[*]} $rt_of_new_clang, then run make test again"
      sudo=(sudo)
    fi
    # Others on the machine may hold the dpkg lock for a while: wait.
    apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -y
         -o DPkg::Lock::Timeout=600)
    "${apt[@]}" update ||
      die "apt-get update failed (see above): install ${required[*]} $rt_of_new_clang, then run make test again"
    if [ -n "$rt_of_new_clang" ]; then
      v=$(apt-cache depends clang 2>/dev/null | sed -n 's/^ *Depends: clang-\([0-9][0-9]*\)$/\1/p' | head -n 1)
      required+=("libclang-rt-${v:-14}-dev")
    fi
    echo "$me: installing ${required[*]} ${optional[*]}"
    "${apt[@]}" install --no-install-recommends "${required[@]}" >/dev/null ||
      die "apt-get install ${required[*]} failed (see above): install them, then run make test again"
    if [ ${#optional[@]} -gt 0 ]; then
      "${apt[@]}" install --no-install-recommends "${optional[@]}" >/dev/null 2>&1 ||
        echo "$me: warning: could not install ${optional[*]} (optional: profiling only)" >&2
    fi
    [ -e "$(fuzzer_rt)" ] ||
      die "clang has no libFuzzer runtime at $(fuzzer_rt): install the libclang-rt-N-dev of its version N"
  fi
fi

# 3. rustfmt and clippy: components of the rustup toolchain.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  if [ -n "$dry" ]; then
    echo "$me: would run: rustup component add rustfmt clippy"
  else
    command -v rustup >/dev/null ||
      die "no cargo fmt / cargo clippy and no rustup: install rustfmt and clippy for your Rust"
    echo "$me: rustup component add rustfmt clippy"
    rustup component add rustfmt clippy ||
      die "rustup component add rustfmt clippy failed (see above): install them"
  fi
fi

if [ -z "$dry" ] || [ ${#required[@]} -eq 0 ]; then
  echo "$me: all prerequisites present"
fi
