#!/usr/bin/env bash
# Runs every loom model in release mode. Small, critical models use
# LOOM_MAX_PREEMPTIONS=3 (set inside the model); the rest use the bound from
# the environment (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}" \
  cargo test --release --lib --target-dir target/loom loom_models -- --test-threads=2 "$@"
