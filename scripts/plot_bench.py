#!/usr/bin/env python3
"""Plots the cycle benchmark: ns per reserve+commit+release cycle against the
number of engines, one line per contender, one panel per thread count.

Input: the CSV that `cargo bench --bench cycle` writes (target/bench/ratios.csv
by default). Output: docs/bench-cycle.png by default.

    scripts/plot_bench.py [CSV] [PNG]

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


def main():
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
