#!/usr/bin/env bash
# Benchmarks the Reserve -> Commit -> Release cycle of the Go binding, of the
# raw C ABI (no binding layer) and of the pure-Go seed design (mutex + map),
# in one run, sequential and parallel, at GOMAXPROCS 1 and 2, and prints
# ns/op of each and the ratios.
#
#   bindings/engineslots/bench.sh            # 1s per benchmark, one run
#   BENCHTIME=3s COUNT=3 bindings/engineslots/bench.sh
#   SKIP_CARGO=1 bindings/engineslots/bench.sh # library already built
set -euo pipefail
cd "$(dirname "$0")"
BENCHTIME=${BENCHTIME:-1s}
COUNT=${COUNT:-1}
CPUS=${CPUS:-1,2}

if [ -z "${SKIP_CARGO:-}" ]; then
  (cd ../.. && nice cargo build --release --quiet)
fi

. ./buildtree-env.sh

out=$(go test -run '^$' -bench 'Cycle' -benchmem -cpu "$CPUS" -benchtime "$BENCHTIME" -count "$COUNT" .)
echo "$out"
echo
echo "$out" | awk '
  /^Benchmark/ {
    split($1, p, "/")                   # BenchmarkCycle[Parallel], impl, engines=N[-P]
    mode = (p[1] ~ /Parallel/) ? "parallel" : "sequential"
    impl = p[2]; rest = p[3]; procs = 1
    if (match(rest, /-[0-9]+$/)) { procs = substr(rest, RSTART + 1); rest = substr(rest, 1, RSTART - 1) }
    sub(/engines=/, "", rest)
    key = mode SUBSEP rest SUBSEP procs
    if (!(key in seen)) { seen[key] = 1; order[n++] = key }
    sum[key, impl] += $3; cnt[key, impl]++
  }
  function avg(k, i) { return cnt[k, i] ? sum[k, i] / cnt[k, i] : 0 }
  END {
    printf "%-10s %7s %10s %10s %10s %10s %13s %13s\n", "mode", "engines", "GOMAXPROCS",
           "binding", "cabi", "seed", "seed/binding", "binding/cabi"
    for (j = 0; j < n; j++) {
      k = order[j]; split(k, f, SUBSEP)
      b = avg(k, "binding"); c = avg(k, "cabi"); s = avg(k, "seed")
      printf "%-10s %7s %10s %10.0f %10.0f %10.0f %12.2fx %12.2fx\n", f[1], f[2], f[3], b, c, s,
             (b ? s / b : 0), (c ? b / c : 0)
    }
    print "(ns/op per cycle; seed/binding > 1 means the binding is faster than the seed design)"
  }'
