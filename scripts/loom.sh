#!/usr/bin/env bash
# Runs every loom model (src/loom/, one file per protocol) in release mode
# with debug assertions on, so the `debug_assert!`s of the bit fields and the
# free list are checked in every explored schedule. Each model sets its own
# preemption bound (2, or 3 for the smallest, most critical ones);
# LOOM_MAX_PREEMPTIONS can only raise it (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
RUSTFLAGS="--cfg loom -C debug-assertions=on ${RUSTFLAGS:-}" \
  cargo test --release --lib --target-dir target/loom loom:: -- --test-threads=2 "$@"
