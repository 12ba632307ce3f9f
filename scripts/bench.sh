#!/usr/bin/env bash
# Runs the Rust cycle benchmark (criterion) and, from that one run, prints the
# ratio table and the issue's targets, writes target/bench/ratios.csv (and
# ratios.txt) and regenerates docs/bench-cycle.png.
#
#   scripts/bench.sh                 # everything (a few minutes)
#   BENCH_QUICK=1 scripts/bench.sh   # shorter warm-up/measurement (smoke run)
#   scripts/bench.sh cycle-1t        # only benchmarks whose id contains the filter
#                                    # (the CSV then holds only those)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench --bench cycle -- "$@"

if ! python3 -c 'import matplotlib' 2>/dev/null; then
  echo "bench.sh: installing matplotlib for the plot" >&2
  python3 -m pip install --quiet matplotlib >&2 || {
    echo "bench.sh: no matplotlib; skipping the plot (the table and CSV are above)" >&2
    exit 0
  }
fi
python3 scripts/plot_bench.py target/bench/ratios.csv docs/bench-cycle.png
