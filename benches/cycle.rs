//! ns per reserve+commit+release cycle: engine-slots against the designs it
//! replaces, measured in one run.
//!
//! Contenders (every one places a stream on the least loaded engine with
//! room, commits it, and releases it):
//!
//! * `es-least_loaded`, `es-fill_first`, `es-two_choices` — engine-slots,
//!   one [`Table`] per policy, with pending and active leases switched on.
//! * `seed` — the seed's design: one `std::sync::Mutex` over a `HashMap`
//!   from 64-byte container id to pending count plus a `Vec` of engines with
//!   their active counts. Selection looks up every engine's pending count in
//!   the map, as the seed does; commit moves one pending count (by key) to
//!   active; release drops one active count.
//! * `ideal-locked` — the fastest a lock can be with none of our
//!   guarantees: one `Mutex` over a `Vec` of per-engine counters; no keys,
//!   no tickets, no generations, no leases.
//! * `floor` — the raw cost of what a lock-free cycle cannot avoid: one scan
//!   of N `AtomicU64` engine words plus three uncontended compare-and-swaps
//!   (on words private to the thread).
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

use criterion::{black_box, BenchmarkId, Criterion};
use crossbeam_utils::CachePadded;
use engine_slots::{Config, Policy, Table};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime};

const SIZES: [u32; 3] = [16, 256, 4096];
const THREADS: [usize; 3] = [1, 2, 4];
const CAPACITY: u32 = 8;
const MAX_THREADS: usize = 4;

/// Contender names, in table order.
const ES_LL: &str = "es-least_loaded";
const ES_FF: &str = "es-fill_first";
const ES_TC: &str = "es-two_choices";
const SEED: &str = "seed";
const IDEAL: &str = "ideal-locked";
const FLOOR: &str = "floor";
const CONTENDERS: [&str; 6] = [ES_LL, ES_FF, ES_TC, SEED, IDEAL, FLOOR];

/// A 64-byte container id, as the seed keys its map.
fn container_id(i: u32) -> [u8; 64] {
    let mut id = [b'0'; 64];
    let hex = format!(
        "{:064x}",
        (i as u128 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
    );
    id.copy_from_slice(hex.as_bytes());
    id
}

/// One thread's share of a batch: `n` complete cycles. `thread` is the
/// worker's index in `0..MAX_THREADS` (only the floor uses it).
trait Contender: Sync {
    fn cycles(&self, thread: usize, n: u64);
}

// ---------------------------------------------------------------- engine-slots

struct Slots(Table);

impl Slots {
    fn new(engines: u32, policy: Policy) -> Slots {
        let cfg = Config {
            max_engines: engines,
            max_tickets: 1024,
            default_capacity: CAPACITY,
            pending_lease_ms: 10_000,
            active_lease_ms: 60_000,
            policy,
        };
        let t = if std::env::var_os("BENCH_SHARED").is_some() {
            let dir = Path::new("/dev/shm");
            let dir = if dir.is_dir() {
                dir.to_path_buf()
            } else {
                std::env::temp_dir()
            };
            let path = dir.join(format!(
                "es-bench-{}-{engines}-{policy:?}",
                std::process::id()
            ));
            let _ = Table::unlink_shared(&path);
            let t = Table::open_shared(&path, Some(&cfg)).expect("shared table");
            // The mapping stays valid after the name is gone.
            Table::unlink_shared(&path).expect("unlink");
            t
        } else {
            Table::new(cfg).expect("valid config")
        };
        for i in 0..engines {
            t.add_engine(&container_id(i), CAPACITY)
                .expect("add engine");
        }
        Slots(t)
    }
}

impl Contender for Slots {
    fn cycles(&self, _: usize, n: u64) {
        let t = &self.0;
        for _ in 0..n {
            let r = t.reserve().expect("reserve").expect("room");
            t.commit(black_box(r.ticket)).expect("commit");
            t.release(black_box(r.ticket)).expect("release");
        }
    }
}

// ---------------------------------------------------------------- seed design

struct SeedEngine {
    id: [u8; 64],
    active: u32,
    capacity: u32,
}

struct SeedState {
    /// Picks the orchestrator has not reported yet, by container id.
    pending: HashMap<[u8; 64], u32>,
    engines: Vec<SeedEngine>,
}

struct Seed(Mutex<SeedState>);

impl Seed {
    fn new(engines: u32) -> Seed {
        Seed(Mutex::new(SeedState {
            pending: HashMap::new(),
            engines: (0..engines)
                .map(|i| SeedEngine {
                    id: container_id(i),
                    active: 0,
                    capacity: CAPACITY,
                })
                .collect(),
        }))
    }
    fn reserve(&self) -> Option<usize> {
        let mut s = self.0.lock().unwrap();
        let SeedState { pending, engines } = &mut *s;
        let mut best: Option<(usize, u32)> = None;
        for (i, e) in engines.iter().enumerate() {
            let load = e.active + pending.get(&e.id).copied().unwrap_or(0);
            if load < e.capacity && best.is_none_or(|(_, b)| load < b) {
                best = Some((i, load));
            }
        }
        let (i, _) = best?;
        *pending.entry(engines[i].id).or_insert(0) += 1;
        Some(i)
    }
    fn commit(&self, i: usize) {
        let mut s = self.0.lock().unwrap();
        let SeedState { pending, engines } = &mut *s;
        if let Some(p) = pending.get_mut(&engines[i].id) {
            *p = p.saturating_sub(1);
        }
        engines[i].active += 1;
    }
    fn release(&self, i: usize) {
        let mut s = self.0.lock().unwrap();
        s.engines[i].active -= 1;
    }
}

impl Contender for Seed {
    fn cycles(&self, _: usize, n: u64) {
        for _ in 0..n {
            let i = self.reserve().expect("room");
            self.commit(black_box(i));
            self.release(black_box(i));
        }
    }
}

// ---------------------------------------------------------------- ideal locked

#[derive(Clone, Copy)]
struct Counter {
    active: u32,
    pending: u32,
    capacity: u32,
}

struct Ideal(Mutex<Vec<Counter>>);

impl Ideal {
    fn new(engines: u32) -> Ideal {
        Ideal(Mutex::new(vec![
            Counter {
                active: 0,
                pending: 0,
                capacity: CAPACITY,
            };
            engines as usize
        ]))
    }
    fn reserve(&self) -> Option<usize> {
        let mut v = self.0.lock().unwrap();
        let mut best: Option<(usize, u32)> = None;
        for (i, c) in v.iter().enumerate() {
            let load = c.active + c.pending;
            if load < c.capacity && best.is_none_or(|(_, b)| load < b) {
                best = Some((i, load));
            }
        }
        let (i, _) = best?;
        v[i].pending += 1;
        Some(i)
    }
    fn commit(&self, i: usize) {
        let mut v = self.0.lock().unwrap();
        v[i].pending -= 1;
        v[i].active += 1;
    }
    fn release(&self, i: usize) {
        self.0.lock().unwrap()[i].active -= 1;
    }
}

impl Contender for Ideal {
    fn cycles(&self, _: usize, n: u64) {
        for _ in 0..n {
            let i = self.reserve().expect("room");
            self.commit(black_box(i));
            self.release(black_box(i));
        }
    }
}

// ---------------------------------------------------------------- floor

struct Floor {
    /// The engine words every thread scans (never written during the run).
    words: Vec<AtomicU64>,
    /// Three words per thread, each thread's on its own cache line.
    own: Vec<CachePadded<[AtomicU64; 3]>>,
}

impl Floor {
    fn new(engines: u32) -> Floor {
        Floor {
            words: (0..engines)
                .map(|i| AtomicU64::new(CAPACITY as u64 | ((i as u64 & 3) << 22)))
                .collect(),
            own: (0..MAX_THREADS)
                .map(|_| {
                    CachePadded::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)])
                })
                .collect(),
        }
    }
}

impl Contender for Floor {
    fn cycles(&self, thread: usize, n: u64) {
        let own = &self.own[thread];
        let mut expect = [0u64; 3];
        for (e, w) in expect.iter_mut().zip(own.iter()) {
            *e = w.load(Ordering::Relaxed);
        }
        for _ in 0..n {
            // One scan: the least loaded word.
            let mut best = (u64::MAX, 0usize);
            for (i, w) in self.words.iter().enumerate() {
                let load = (w.load(Ordering::Relaxed) >> 11) & 0x3F_FFFF;
                if load < best.0 {
                    best = (load, i);
                }
            }
            black_box(best);
            // Three uncontended CASes: admission, commit, release.
            for (e, w) in expect.iter_mut().zip(own.iter()) {
                let r = w.compare_exchange(*e, *e + 1, Ordering::AcqRel, Ordering::Relaxed);
                debug_assert!(r.is_ok());
                *e += 1;
            }
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
        c.cycles(0, iters);
        return start.elapsed();
    }
    let share = iters / threads as u64;
    let first = iters - share * (threads as u64 - 1);
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        for t in 1..threads {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                c.cycles(t, share);
            });
        }
        barrier.wait();
        let start = Instant::now();
        c.cycles(0, first);
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
