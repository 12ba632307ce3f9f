#!/usr/bin/env bash
# The Rust and C half of `make bench`: one run of every step below, each
# printing its table and writing it under target/bench/, then
# target/bench/summary.txt with all of them (docs/BENCHMARKS.md quotes it).
#
#   cycle       criterion: ns per reserve+commit+release cycle at 16/256/4096
#               engines, 1/2/4 threads, against the seed design, the ideal
#               locked design and the floor; ratios.txt/.csv, docs/bench-cycle.png
#   contention  1/2/8/32 threads, each policy, the ideal mutex, the seed design,
#               the floors: aggregate throughput and reserve latency
#               p50/p99/p99.9/p99.99; contention.txt/.csv, docs/bench-contention.png
#   retries     CAS retries per reservation (feature bench-counters, its own
#               target dir), the least-loaded tie-break at the lowest slot
#               (before) and at a random start (after); retries.txt/.csv
#   cabi        the C-ABI cycle (benches/c_cycle.c against libengine_slots.a)
#               beside the same loop in Rust (benches/driver): best-of wall time,
#               alternated, and instructions per cycle (callgrind); cabi.txt
#   regress     1-thread cycle of this tree against $BENCH_BASE (main as merged
#               into perf: the tree without this work), both built from the same driver and
#               run alternately; wall time and instructions; regress.txt
#
#   scripts/bench.sh                       # everything (about 6 minutes on 2 cores)
#   BENCH_QUICK=1 scripts/bench.sh         # shorter phases and fewer rounds (smoke run)
#   BENCH_STEPS="cabi regress" scripts/bench.sh   # a subset
#   scripts/bench.sh cycle-1t              # criterion only, benchmarks whose id
#                                          # contains the filter
#   BENCH_BASE=<rev>                       # default d308acd (main at the last merge;
#                                          # 9741827 = before the tie-break work,
#                                          # before the crash-safe protocol)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=target/bench
BASE_REV="${BENCH_BASE:-d308acd}"
STEPS="${BENCH_STEPS:-cycle contention retries cabi regress}"
if [ $# -gt 0 ]; then STEPS=cycle; fi
QUICK="${BENCH_QUICK:-}"
ROUNDS=$([ -n "$QUICK" ] && echo 3 || echo 8)
mkdir -p "$OUT"
has() { [[ " $STEPS " == *" $1 "* ]]; }
step() { printf '\n== %s\n' "$*" >&2; }

machine() {
  printf 'machine: %s, %s cores; load average %s\n' \
    "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)" "$(nproc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
}
machine >"$OUT/machine.txt"

ensure_matplotlib() {
  python3 -c 'import matplotlib' 2>/dev/null && return 0
  echo "bench.sh: installing matplotlib for the plots" >&2
  python3 -m pip install --quiet matplotlib >&2 || {
    echo "bench.sh: no matplotlib; skipping the plots (the tables and CSVs are written)" >&2
    return 1
  }
}

# Best-of timing lines "<name> ... <ns>" from alternating runs: min and median
# of each name's per-run best.
stats() {
  awk '{ v[$1] = v[$1] " " $NF } END { for (k in v) print k, v[k] }' |
    python3 -c '
import sys, statistics
for line in sys.stdin:
    name, *xs = line.split()
    xs = sorted(float(x) for x in xs)
    print(name, min(xs), statistics.median(xs), max(xs))'
}

# Instructions per cycle of `run_cycles` under callgrind: <cycles measured> <cmd...>
instructions() {
  local cycles=$1
  shift
  valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*run_cycles*' \
    --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' |
    awk -v c="$cycles" '{ printf "%.1f", $1 / c }'
}
have_valgrind() { command -v valgrind >/dev/null; }

# The driver (benches/driver) built against this tree.
build_driver_new() {
  nice cargo build --release --quiet --manifest-path benches/driver/Cargo.toml \
    --target-dir "$OUT/driver-new"
  DRIVER_NEW="$OUT/driver-new/release/engine-slots-bench-driver"
}

if has cycle; then
  step "criterion cycle benchmark"
  cargo bench --bench cycle -- "$@"
  if ensure_matplotlib; then
    python3 scripts/plot_bench.py "$OUT/ratios.csv" docs/bench-cycle.png
  fi
fi

if has contention; then
  step "contention: 1, 2, 8, 32 threads"
  cargo bench --bench contention
  if ensure_matplotlib; then
    python3 scripts/plot_bench.py --contention "$OUT/contention.csv" docs/bench-contention.png
  fi
fi

if has retries; then
  step "CAS retries per reservation (bench-counters build)"
  cargo bench --bench contention --features bench-counters --target-dir "$OUT/counters"
fi

if has cabi; then
  step "C-ABI cycle vs Rust cycle"
  nice cargo build --release --quiet
  nice ${CC:-cc} -std=c11 -O2 -g -Wall -Wextra -Wpedantic -Werror -Iinclude \
    benches/c_cycle.c target/release/libengine_slots.a -lpthread -ldl -lm -o "$OUT/c_cycle"
  # The same program against the shared library (what `-lengine_slots` picks
  # when both are installed): calls through the PLT, thread-locals through
  # __tls_get_addr.
  nice ${CC:-cc} -std=c11 -O2 -g -Iinclude benches/c_cycle.c -Ltarget/release -lengine_slots \
    "-Wl,-rpath,$PWD/target/release" -o "$OUT/c_cycle_so"
  build_driver_new
  {
    echo "C-ABI cycle (benches/c_cycle.c, static library) vs the same loop in Rust"
    echo "(benches/driver): 16 engines, 64-byte keys, least loaded, 1 thread, this run."
    echo "wall: ns per cycle, best of 40 batches of 20000 cycles per run, $ROUNDS runs"
    echo "of each, alternated; min / median / max over the runs."
    for _ in $(seq "$ROUNDS"); do
      "$OUT/c_cycle" 20000 16 40 | awk '{ print "c-static", $NF }'
      "$DRIVER_NEW" least_loaded 16 1 20000 40 | awk '{ print "rust", $NF }'
      "$OUT/c_cycle_so" 20000 16 40 | awk '{ print "c-shared", $NF }'
    done | stats | sort | awk '{ printf "  %-8s min %7.2f  median %7.2f  max %7.2f\n", $1, $2, $3, $4; m[$1] = $2; d[$1] = $3 }
      END { printf "  C (static) / Rust: %.3fx (min), %.3fx (median)   (goal <= 1.15x)\n", m["c-static"] / m["rust"], d["c-static"] / d["rust"]
            printf "  C (shared) / Rust: %.3fx (min), %.3fx (median)\n", m["c-shared"] / m["rust"], d["c-shared"] / d["rust"] }'
    if have_valgrind; then
      c=$(instructions 22001 "$OUT/c_cycle" 20000 16 1)
      so=$(instructions 22001 "$OUT/c_cycle_so" 20000 16 1)
      r=$(instructions 22001 "$DRIVER_NEW" least_loaded 16 1 20000 1)
      echo "instructions per cycle (callgrind, noise-free): Rust $r, C static $c" \
        "($(awk -v c="$c" -v r="$r" 'BEGIN { printf "%.3fx", c / r }')), C shared $so" \
        "($(awk -v c="$so" -v r="$r" 'BEGIN { printf "%.3fx", c / r }'))"
    fi
  } | tee "$OUT/cabi.txt"
fi

if has regress; then
  step "1-thread regression against $BASE_REV"
  base="$OUT/base"
  if [ "$(cat "$base/.rev" 2>/dev/null)" != "$BASE_REV" ]; then
    rm -rf "$base"
    mkdir -p "$base"
    git archive "$BASE_REV" | tar -x -C "$base"
    echo "$BASE_REV" >"$base/.rev"
  fi
  # The same driver (and the contenders it includes), placed so that its
  # `path = "../.."` is the old crate.
  rm -rf "$base/benches/driver" "$base/benches/common"
  mkdir -p "$base/benches/driver"
  cp -r benches/driver/Cargo.toml benches/driver/src "$base/benches/driver/"
  cp -r benches/common "$base/benches/"
  nice cargo build --release --quiet --manifest-path "$base/benches/driver/Cargo.toml" \
    --target-dir "$OUT/driver-base"
  DRIVER_BASE="$OUT/driver-base/release/engine-slots-bench-driver"
  build_driver_new
  {
    echo "1-thread cycle, this tree (new) against $BASE_REV (base), the same driver,"
    echo "this run: ns per cycle = best of 40 batches per run, $ROUNDS runs of each,"
    echo "alternated; min, median and max over the runs (the spread of one binary's"
    echo "runs is the noise of the moment; the ideal-mutex row is the same code in"
    echo "both binaries, a control); instr = instructions per cycle (callgrind)."
    printf '  %-13s %7s %23s %23s %9s %9s %8s %8s %8s\n' policy engines \
      "base min/median/max" "new min/median/max" "new/base" "(median)" "instr b" \
      "instr n" "new/base"
    # ideal: the same code in both binaries, a control for the method's noise.
    for spec in "least_loaded 16 20000" "least_loaded 256 5000" "least_loaded 4096 500" \
      "fill_first 16 20000" "two_choices 16 20000" "ideal 16 50000"; do
      set -- $spec
      policy=$1 engines=$2 cycles=$3
      w=$(for _ in $(seq "$ROUNDS"); do
        "$DRIVER_BASE" "$policy" "$engines" 1 "$cycles" 40 | awk '{ print "base", $NF }'
        "$DRIVER_NEW" "$policy" "$engines" 1 "$cycles" 40 | awk '{ print "new", $NF }'
      done | stats)
      read -r _ bmin bmed bmax <<<"$(grep '^base ' <<<"$w")"
      read -r _ nmin nmed nmax <<<"$(grep '^new ' <<<"$w")"
      ib=- in=- ir=-
      if have_valgrind; then
        n=$((cycles + cycles / 10 + 1))
        ib=$(instructions "$n" "$DRIVER_BASE" "$policy" "$engines" 1 "$cycles" 1)
        in=$(instructions "$n" "$DRIVER_NEW" "$policy" "$engines" 1 "$cycles" 1)
        ir=$(awk -v a="$in" -v b="$ib" 'BEGIN { printf "%.3fx", a / b }')
      fi
      printf '  %-13s %7s %23s %23s %8.3fx %8.3fx %8s %8s %8s\n' "$policy" "$engines" \
        "$(printf '%.1f/%.1f/%.1f' "$bmin" "$bmed" "$bmax")" \
        "$(printf '%.1f/%.1f/%.1f' "$nmin" "$nmed" "$nmax")" \
        "$(awk -v a="$nmin" -v b="$bmin" 'BEGIN { print a / b }')" \
        "$(awk -v a="$nmed" -v b="$bmed" 'BEGIN { print a / b }')" "$ib" "$in" "$ir"
    done
    echo "  (goal: no 1-thread regression beyond 5% at 16, 256 and 4096 engines)"
  } | tee "$OUT/regress.txt"
fi

machine >>"$OUT/machine.txt"
{
  echo "make bench (scripts/bench.sh), $(date -u '+%Y-%m-%d %H:%M UTC'), steps: $STEPS"
  echo "at start and at end:"
  sed 's/^/  /' "$OUT/machine.txt"
  for pair in cycle:ratios contention:contention retries:retries cabi:cabi regress:regress; do
    has "${pair%%:*}" || continue
    f="$OUT/${pair#*:}.txt"
    [ -f "$f" ] || continue
    printf '\n---- %s\n' "${pair%%:*}"
    cat "$f"
  done
} >"$OUT/summary.txt"
echo "wrote $OUT/summary.txt" >&2
