#!/usr/bin/env bash
# Regenerates include/engine_slots.h from src/ffi/ with the pinned cbindgen
# (the same code path that tests/header_fresh.rs checks), then shows the diff.
set -euo pipefail
cd "$(dirname "$0")/.."
ES_REGENERATE_HEADER=1 cargo test --quiet --test header_fresh header_is_fresh
git --no-pager diff --stat -- include/engine_slots.h || true
