#!/usr/bin/env bash
# Builds and runs the libFuzzer harness tests/fuzz/fuzz_api.c for SECONDS
# (default 60); SECONDS=0 only replays the seeds and the saved corpus (a
# regression check of a few seconds). Output under target/fuzz/:
#   fuzz_api      the fuzzer binary (replay one input: target/fuzz/fuzz_api FILE,
#                 with FUZZ_API_TRACE=1 to print every call's status)
#   corpus/       inputs found interesting (the seeds in tests/fuzz/corpus
#                 are read, never written)
#   artifacts/    crashing inputs, if any
#   fuzz.log      the fuzzer's output
#
# Instrumentation: the harness is built by clang with
# -fsanitize=fuzzer,address,undefined. The Rust library is built a second
# time (target/fuzz-rust/) by stable rustc with SanitizerCoverage
# (inline 8-bit counters, PC table, comparison tracing) plus debug
# assertions and overflow checks, so libFuzzer sees coverage inside the Rust
# code too. AddressSanitizer does not instrument the Rust side (that needs
# nightly's -Zsanitizer); it still checks every access made from C and the
# heap functions the Rust side calls. If the instrumented build fails, or
# with ES_FUZZ_BLACKBOX=1, target/release/libengine_slots.a is fuzzed as a
# black box (harness coverage only).
#
# Needs clang and libFuzzer: `make deps` (scripts/deps.sh, which make test
# runs first) installs them (Debian: clang libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
CLANG=${CLANG:-clang}
out=target/fuzz
mkdir -p "$out/corpus" "$out/artifacts"

if ! command -v "$CLANG" >/dev/null; then
  echo "tests/fuzz/run.sh: clang not found; run make deps (or apt-get install -y clang libclang-rt-14-dev)" >&2
  exit 1
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n ? 0 : 0; }' \
  > "$probe/p.c"
if ! "$CLANG" -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" 2>"$probe/err"; then
  echo "tests/fuzz/run.sh: $CLANG cannot link libFuzzer:" >&2
  cat "$probe/err" >&2
  echo "run make deps (or apt-get install -y libclang-rt-N-dev for your clang N)" >&2
  exit 1
fi

# The Rust library: instrumented if possible, else the release build.
host=$(rustc -vV | sed -n 's/^host: //p')
lib=target/fuzz-rust/$host/release/libengine_slots.a
mode="Rust side instrumented (SanitizerCoverage, debug assertions)"
if [ -n "${ES_FUZZ_BLACKBOX:-}" ]; then
  lib=""
else
  # --target keeps RUSTFLAGS off build scripts; only the staticlib is built
  # (a cdylib could not link the coverage callbacks, which libFuzzer provides).
  if ! CARGO_TARGET_DIR=target/fuzz-rust \
    RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
      -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
      -Cllvm-args=-sanitizer-coverage-pc-table \
      -Cllvm-args=-sanitizer-coverage-trace-compares \
      -Cdebug-assertions -Coverflow-checks" \
    ${CARGO:-cargo} rustc --quiet --release --lib --target "$host" --crate-type staticlib; then
    echo "tests/fuzz/run.sh: instrumented Rust build failed; fuzzing the release library" \
         "as a black box" >&2
    lib=""
  fi
fi
if [ -z "$lib" ]; then
  ${CARGO:-cargo} build --release --quiet
  lib=target/release/libengine_slots.a
  mode="black box: only the C harness is instrumented"
fi

"$CLANG" -std=c11 -g -O1 -Wall -Wextra -Wpedantic -Werror \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Iinclude tests/fuzz/fuzz_api.c "$lib" -lpthread -ldl -lm -o "$out/fuzz_api"

if [ "$seconds" = 0 ]; then
  budget=(-runs=0)   # execute the corpus once, mutate nothing
  echo "fuzz_api: $mode; replaying the corpus (log: $out/fuzz.log)"
else
  budget=(-max_total_time="$seconds")
  echo "fuzz_api: $mode; running ${seconds}s (log: $out/fuzz.log)"
fi
status=0
"$out/fuzz_api" "${budget[@]}" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$out/artifacts/" \
  "$out/corpus" tests/fuzz/corpus >"$out/fuzz.log" 2>&1 || status=$?
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$out/fuzz.log" | tail -2 || true
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
  "$out/fuzz.log" || true
if [ "$status" -ne 0 ]; then
  grep -E -A3 'fuzz_api: step|ERROR: (AddressSanitizer|libFuzzer)|runtime error' \
    "$out/fuzz.log" | head -40 >&2 || true
  echo "tests/fuzz/run.sh: FAILED (exit $status); crashing input in $out/artifacts/," \
       "replay: FUZZ_API_TRACE=1 $out/fuzz_api <file>" >&2
  exit "$status"
fi
echo "tests/fuzz/run.sh: no failure ($([ "$seconds" = 0 ] && echo "corpus replay" || echo "${seconds}s"))"
