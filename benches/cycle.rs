//! ns per reserve+commit+release cycle: engine-slots against the designs it
//! replaces, measured in one run.
//!
//! Contenders (`benches/common/contenders.rs`; every one places a stream on
//! the least loaded engine with room, commits it, and releases it):
//! `es-least_loaded`, `es-fill_first`, `es-two_choices` (engine-slots, one
//! table per policy, leases on), `seed` (the seed's mutex + map design),
//! `ideal-locked` (one mutex over a counter array) and `floor` (one scan and
//! three uncontended compare-and-swaps).
//!
//! Sizes 16, 256 and 4096 engines (capacity 8 each, so every thread always
//! finds room); 1, 2 and 4 threads. With T threads, T threads each run their
//! share of the cycles at once and the batch is timed as a whole
//! (`iter_custom`), so the figure is ns per cycle of aggregate throughput:
//! lower is better, and perfect scaling halves it from 1 to 2 threads.
//!
//! After criterion has measured everything, the binary reads criterion's
//! own median estimates of *this* run (files written by this process),
//! prints the ratio table and the targets, and writes
//! `target/bench/ratios.csv` (input of `scripts/plot_bench.py`).
//!
//! `BENCH_QUICK=1` shortens warm-up and measurement further (a smoke run).
//! `BENCH_SHARED=1` puts the engine-slots tables in shared files (in
//! `/dev/shm` when it exists), the crash-safe protocol of shared tables.

#[path = "common/contenders.rs"]
mod contenders;

use contenders::{Floor, Ideal, Ops, Seed, Slots};
use criterion::{black_box, BenchmarkId, Criterion};
use engine_slots::Policy;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime};

const SIZES: [u32; 3] = [16, 256, 4096];
const THREADS: [usize; 3] = [1, 2, 4];

/// Contender names, in table order.
const ES_LL: &str = "es-least_loaded";
const ES_FF: &str = "es-fill_first";
const ES_TC: &str = "es-two_choices";
const SEED: &str = "seed";
const IDEAL: &str = "ideal-locked";
const FLOOR: &str = "floor";
const CONTENDERS: [&str; 6] = [ES_LL, ES_FF, ES_TC, SEED, IDEAL, FLOOR];

/// One thread's share of a batch: `n` complete cycles.
trait Contender: Sync {
    fn cycles(&self, n: u64);
}

impl<C: Ops> Contender for C {
    fn cycles(&self, n: u64) {
        let mut l = self.local();
        for _ in 0..n {
            let t = self.reserve(&mut l);
            self.commit(&mut l, black_box(t));
            self.release(&mut l, black_box(t));
        }
    }
}

// ---------------------------------------------------------------- driver

fn build(name: &str, engines: u32) -> Box<dyn Contender> {
    match name {
        ES_LL => Box::new(Slots::new(engines, Policy::LeastLoaded)),
        ES_FF => Box::new(Slots::new(engines, Policy::FillFirst)),
        ES_TC => Box::new(Slots::new(engines, Policy::TwoChoices)),
        SEED => Box::new(Seed::new(engines)),
        IDEAL => Box::new(Ideal::new(engines)),
        FLOOR => Box::new(Floor::new(engines)),
        _ => unreachable!("unknown contender {name}"),
    }
}

/// Runs `iters` cycles spread over `threads` threads at once; returns the
/// wall time of the whole batch (thread start-up excluded by a barrier).
fn batch(c: &dyn Contender, threads: usize, iters: u64) -> Duration {
    if threads == 1 {
        let start = Instant::now();
        c.cycles(iters);
        return start.elapsed();
    }
    let share = iters / threads as u64;
    let first = iters - share * (threads as u64 - 1);
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        for _ in 1..threads {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                c.cycles(share);
            });
        }
        barrier.wait();
        let start = Instant::now();
        c.cycles(first);
        // The scope joins the other workers before returning.
        start
    })
    .elapsed()
}

fn group_name(threads: usize) -> String {
    format!("cycle-{threads}t")
}

/// Criterion's output directory: `$CARGO_TARGET_DIR/criterion`, else the
/// crate's `target/criterion`.
fn criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
            }
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("criterion")
}

/// Median and its 95% interval (ns) from criterion's `estimates.json`, if
/// written at or after `since` (that is, by this run).
fn read_median(path: &Path, since: SystemTime) -> Option<(f64, f64, f64)> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let median = &text[text.find("\"median\"")?..];
    let num = |key: &str| -> Option<f64> {
        let at = median.find(key)? + key.len();
        let rest = median[at..].trim_start_matches([':', ' ']);
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    Some((
        num("\"point_estimate\"")?,
        num("\"lower_bound\"")?,
        num("\"upper_bound\"")?,
    ))
}

struct Row {
    threads: usize,
    engines: u32,
    name: &'static str,
    ns: f64,
    lo: f64,
    hi: f64,
}

fn summarize(since: SystemTime) {
    let dir = criterion_dir();
    let mut rows = Vec::new();
    for threads in THREADS {
        for engines in SIZES {
            for name in CONTENDERS {
                let p = dir
                    .join(group_name(threads))
                    .join(name)
                    .join(engines.to_string())
                    .join("new")
                    .join("estimates.json");
                if let Some((ns, lo, hi)) = read_median(&p, since) {
                    rows.push(Row {
                        threads,
                        engines,
                        name,
                        ns,
                        lo,
                        hi,
                    });
                }
            }
        }
    }
    if rows.is_empty() {
        println!("cycle: no estimates from this run (filtered out?); no ratio table");
        return;
    }
    let get = |threads: usize, engines: u32, name: &str| {
        rows.iter()
            .find(|r| r.threads == threads && r.engines == engines && r.name == name)
            .map(|r| r.ns)
    };
    let ratio = |num: Option<f64>, den: Option<f64>| match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    };
    let fmt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));

    let mut out = String::new();
    let mut csv = String::from(
        "threads,engines,contender,ns_per_cycle,ci_low,ci_high,speedup_vs_seed,speedup_vs_ideal,times_floor\n",
    );
    let _ = writeln!(
        out,
        "\nns per reserve+commit+release cycle (criterion median, this run); \
         speedup = baseline ns / contender ns, floor = contender ns / floor ns"
    );
    for threads in THREADS {
        let _ = writeln!(out, "\n{threads} thread(s)");
        let _ = writeln!(
            out,
            "{:>7}  {:<16} {:>12}  {:>12} {:>12} {:>10}",
            "engines", "contender", "ns/cycle", "vs seed", "vs ideal", "x floor"
        );
        for engines in SIZES {
            for r in rows
                .iter()
                .filter(|r| r.threads == threads && r.engines == engines)
            {
                let vs_seed = ratio(get(threads, engines, SEED), Some(r.ns));
                let vs_ideal = ratio(get(threads, engines, IDEAL), Some(r.ns));
                let x_floor = ratio(Some(r.ns), get(threads, engines, FLOOR));
                let _ = writeln!(
                    out,
                    "{:>7}  {:<16} {:>12.1}  {:>11}x {:>11}x {:>9}x",
                    engines,
                    r.name,
                    r.ns,
                    fmt(vs_seed),
                    fmt(vs_ideal),
                    fmt(x_floor)
                );
                let _ = writeln!(
                    csv,
                    "{},{},{},{:.3},{:.3},{:.3},{},{},{}",
                    threads,
                    engines,
                    r.name,
                    r.ns,
                    r.lo,
                    r.hi,
                    vs_seed.map_or(String::new(), |v| format!("{v:.3}")),
                    vs_ideal.map_or(String::new(), |v| format!("{v:.3}")),
                    x_floor.map_or(String::new(), |v| format!("{v:.3}")),
                );
            }
        }
    }

    // The targets (16 engines unless said), judged on LeastLoaded,
    // the default policy, and on the best policy.
    let _ = writeln!(out, "\ntargets (issue 5), this run:");
    let mut target =
        |what: &str, value: Option<f64>, unit: &str, ok: fn(f64) -> bool, goal: &str| {
            let verdict = match value {
                Some(v) if ok(v) => "MET",
                Some(_) => "NOT MET",
                None => "n/a",
            };
            let _ = writeln!(
                out,
                "  {:<58} {:>9}{:<3} (goal {:<8}) {}",
                what,
                fmt(value),
                unit,
                goal,
                verdict
            );
        };
    for policy in [ES_LL, ES_FF, ES_TC] {
        target(
            &format!("1t 16e: {policy} speedup vs seed"),
            ratio(get(1, 16, SEED), get(1, 16, policy)),
            "x",
            |v| v >= 5.0,
            ">= 5x",
        );
        target(
            &format!("1t 16e: {policy} speedup vs ideal-locked"),
            ratio(get(1, 16, IDEAL), get(1, 16, policy)),
            "x",
            |v| v >= 1.0,
            ">= 1x",
        );
        target(
            &format!("2t 16e: {policy} speedup vs seed"),
            ratio(get(2, 16, SEED), get(2, 16, policy)),
            "x",
            |v| v >= 8.0,
            ">= 8x",
        );
        target(
            &format!("2t 16e: {policy} speedup vs ideal-locked"),
            ratio(get(2, 16, IDEAL), get(2, 16, policy)),
            "x",
            |v| v >= 1.5,
            ">= 1.5x",
        );
        target(
            &format!("1t 16e: {policy} / floor"),
            ratio(get(1, 16, policy), get(1, 16, FLOOR)),
            "x",
            |v| v <= 2.5,
            "<= 2.5x",
        );
    }
    target(
        "1t: es-two_choices cycle at 4096e / at 16e",
        ratio(get(1, 4096, ES_TC), get(1, 16, ES_TC)),
        "x",
        |v| v <= 1.5,
        "<= 1.5x",
    );
    let per_engine = match (get(1, 4096, ES_LL), get(1, 16, ES_LL)) {
        (Some(big), Some(small)) => Some((big - small) / (4096.0 - 16.0)),
        _ => None,
    };
    target(
        "1t: es-least_loaded ns per scanned engine (4096e vs 16e)",
        per_engine,
        "ns",
        |v| v <= 1.0,
        "<= 1 ns",
    );
    print!("{out}");

    let bench_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let csv_path = bench_dir.join("ratios.csv");
    match std::fs::create_dir_all(&bench_dir).and_then(|_| std::fs::write(&csv_path, csv)) {
        Ok(()) => println!("\nwrote {}", csv_path.display()),
        Err(e) => eprintln!("cycle: cannot write {}: {e}", csv_path.display()),
    }
    let _ = std::fs::write(bench_dir.join("ratios.txt"), out);
}

fn main() {
    let since = SystemTime::now() - Duration::from_secs(1);
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let (warm, measure) = if quick {
        (Duration::from_millis(100), Duration::from_millis(300))
    } else {
        (Duration::from_millis(300), Duration::from_millis(1200))
    };
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(warm)
        .measurement_time(measure)
        .output_directory(&criterion_dir())
        .configure_from_args();
    for threads in THREADS {
        let mut g = c.benchmark_group(group_name(threads));
        for engines in SIZES {
            for name in CONTENDERS {
                let contender = build(name, engines);
                g.bench_with_input(BenchmarkId::new(name, engines), &engines, |b, _| {
                    b.iter_custom(|iters| batch(&*contender, threads, iters))
                });
            }
        }
        g.finish();
    }
    c.final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` runs each
    // benchmark once in test mode, where there is nothing to summarise.
    if std::env::args().any(|a| a == "--bench") {
        summarize(since);
    }
}
