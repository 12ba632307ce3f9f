#!/usr/bin/env python3
"""Plots the cycle benchmark: ns per reserve+commit+release cycle against the
number of engines, one line per contender, one panel per thread count.

Input: the CSV that `cargo bench --bench cycle` writes (target/bench/ratios.csv
by default). Output: docs/bench-cycle.png by default.

    scripts/plot_bench.py [CSV] [PNG]
    scripts/plot_bench.py --contention [CSV] [PNG]

With --contention it plots the contention benchmark instead (the CSV of
`cargo bench --bench contention`, target/bench/contention.csv by default):
aggregate throughput and reserve latency p99.99 against the thread count,
one line per contender (docs/bench-contention.png by default).

Needs matplotlib (`python3 -m pip install matplotlib`; scripts/bench.sh
installs it when missing).
"""

import csv
import os
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Contender -> (label, colour, line style, marker), in legend order.
STYLE = {
    "es-least_loaded": ("engine-slots LeastLoaded", "#1f77b4", "-", "o"),
    "es-fill_first": ("engine-slots FillFirst", "#2ca02c", "-", "s"),
    "es-two_choices": ("engine-slots TwoChoices", "#9467bd", "-", "^"),
    "seed": ("seed design (Mutex + HashMap)", "#d62728", "--", "x"),
    "ideal-locked": ("ideal locked (Mutex + Vec)", "#ff7f0e", "--", "d"),
    "floor": ("floor (3 CAS + 1 scan)", "#7f7f7f", ":", "."),
}


def load(path):
    """{threads: {contender: [(engines, ns, lo, hi)]}} from the CSV."""
    data = defaultdict(lambda: defaultdict(list))
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            data[int(row["threads"])][row["contender"]].append(
                (
                    int(row["engines"]),
                    float(row["ns_per_cycle"]),
                    float(row["ci_low"]),
                    float(row["ci_high"]),
                )
            )
    for per in data.values():
        for points in per.values():
            points.sort()
    return data


# Contention contenders -> (label, colour, line style, marker).
CONTENTION_STYLE = {
    "es-least_loaded": ("engine-slots LeastLoaded", "#1f77b4", "-", "o"),
    "es-fill_first": ("engine-slots FillFirst", "#2ca02c", "-", "s"),
    "es-two_choices": ("engine-slots TwoChoices", "#9467bd", "-", "^"),
    "ideal-mutex": ("ideal mutex (Mutex + Vec)", "#ff7f0e", "--", "d"),
    "seed": ("seed design (Mutex + HashMap)", "#d62728", "--", "x"),
    "floor": ("floor (scan + 3 private CAS)", "#7f7f7f", ":", "."),
    "floor-shared": ("floor, CAS on a scanned word", "#bcbd22", ":", "+"),
    "es-ll-private": ("LeastLoaded, a table per thread", "#17becf", "-.", "v"),
}


def plot_contention(argv):
    src = argv[0] if argv else os.path.join(ROOT, "target/bench/contention.csv")
    out = argv[1] if len(argv) > 1 else os.path.join(ROOT, "docs/bench-contention.png")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = defaultdict(list)
    with open(src, newline="") as f:
        for r in csv.DictReader(f):
            rows[r["contender"]].append(
                (int(r["threads"]), float(r["mcycles_per_s"]), float(r["worst"]),
                 float(r["mcycles_per_s"]), float(r["p50_ns"]), float(r["p9999_ns"]),
                 float(r["p9999_min_ns"]), float(r["p9999_max_ns"])))
    if not rows:
        sys.exit(f"plot_bench.py: no rows in {src}")
    fig, (tp, tail) = plt.subplots(1, 2, figsize=(12, 4.8))
    for name, (label, colour, ls, marker) in CONTENTION_STYLE.items():
        pts = sorted(rows.get(name, []))
        if not pts:
            continue
        xs = [p[0] for p in pts]
        tp.errorbar(xs, [p[1] for p in pts],
                    yerr=[[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]],
                    label=label, color=colour, linestyle=ls, marker=marker, capsize=2)
        tail.errorbar(xs, [p[5] / 1000 for p in pts],
                      yerr=[[(p[5] - p[6]) / 1000 for p in pts],
                            [(p[7] - p[5]) / 1000 for p in pts]],
                      color=colour, linestyle=ls, marker=marker, capsize=2)
    threads = sorted({p[0] for pts in rows.values() for p in pts})
    for ax in (tp, tail):
        ax.set_xscale("log")
        ax.set_xticks(threads)
        ax.set_xticklabels([str(t) for t in threads])
        ax.minorticks_off()
        ax.set_xlabel("threads (2 cores: 8 and 32 are oversubscribed)")
        ax.grid(True, which="major", alpha=0.3)
    tp.set_yscale("log")
    tp.set_ylabel("million cycles / s, all threads (log; higher is better)")
    tp.set_title("aggregate throughput (best phase, down to the worst)")
    tail.set_yscale("log")
    tail.set_ylabel("reserve latency p99.99, us (log; lower is better)")
    tail.set_title("reserve tail latency (median, min-max of 3 phases)")
    handles, labels = tp.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False)
    fig.suptitle("contention: 16 engines, one shared table")
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--contention":
        plot_contention(sys.argv[2:])
        return
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/bench/ratios.csv")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs/bench-cycle.png")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_bench.py: matplotlib is missing (python3 -m pip install matplotlib)")

    data = load(src)
    if not data:
        sys.exit(f"plot_bench.py: no rows in {src}")
    threads = sorted(data)
    fig, axes = plt.subplots(
        1, len(threads), figsize=(5.2 * len(threads), 4.6), sharey=True, squeeze=False
    )
    for ax, t in zip(axes[0], threads):
        for name, (label, colour, ls, marker) in STYLE.items():
            points = data[t].get(name)
            if not points:
                continue
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            # The 95% interval of criterion's median, as error bars.
            err = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
            ax.errorbar(xs, ys, yerr=err, label=label, color=colour, linestyle=ls,
                        marker=marker, capsize=2, linewidth=1.6, markersize=5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        engines = sorted({p[0] for pts in data[t].values() for p in pts})
        ax.set_xticks(engines)
        ax.set_xticklabels([str(e) for e in engines])
        ax.minorticks_off()
        ax.set_xlabel("engines in the table (log)")
        ax.set_title(f"{t} thread{'s' if t > 1 else ''}")
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("ns per reserve+commit+release cycle (log)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    fig.suptitle("engine-slots cycle cost vs. the seed design, the ideal locked design and the floor"
                 " (lower is better)")
    fig.tight_layout(rect=(0, 0.12, 1, 0.95))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
