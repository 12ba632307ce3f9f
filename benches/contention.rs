//! Contention: aggregate throughput and reserve latency at 1, 2, 8 and 32
//! threads, engine-slots (each policy) against the ideal mutex, the seed
//! design and the floor (`benches/common/contenders.rs`), all in one run.
//!
//! Every thread runs reserve + commit + release cycles on one shared table
//! of 16 engines (capacity 8, so every thread always finds room) until told
//! to stop:
//!
//! * **throughput** — cycles of all threads / wall time of a fixed-length
//!   phase, started together behind a barrier. `REPEATS` phases per
//!   contender, interleaved (contender A, B, ..., then A, B, ... again) so a
//!   burst of load from the machine's other users hits every contender; the
//!   table shows the median and the spread.
//! * **reserve latency** — a second phase per contender in which every
//!   reserve is timed with the time-stamp counter (two `rdtsc`, ~10 ns,
//!   converted to ns with a frequency measured at start-up; `Instant`
//!   elsewhere) into a log-linear histogram (1/16 of an octave per bucket,
//!   so a quoted percentile is the upper edge of its bucket, within 6.25%).
//!   Kept apart from the throughput phase so the timing does not dilute
//!   the throughput ratios.
//!
//! With 8 and 32 threads on a 2-core machine the threads are oversubscribed:
//! the scheduler preempts them, and a lock holder preempted inside its
//! critical section stops every waiter, which is what the tail shows.
//!
//! Built with `--features bench-counters` it measures instead the
//! compare-and-swap retries per reservation (selection scans per
//! reservation - 1) of the engine-slots policies, with the least-loaded
//! scan's last tie-break at the lowest slot (the design before the random
//! start) and at a random start, in one build.
//!
//! Output: the table on stdout and in `target/bench/contention.txt`, the
//! rows in `target/bench/contention.csv` (or `retries.txt` / `retries.csv`).
//! `BENCH_QUICK=1` shortens every phase (a smoke run).

// The counters build measures only the retries; the table's machinery
// is then unused.
#![cfg_attr(feature = "bench-counters", allow(dead_code, unused_macros))]

#[path = "common/contenders.rs"]
mod contenders;

use contenders::{Floor, Ideal, Ops, Seed, Slots};
use engine_slots::Policy;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

const ENGINES: u32 = 16;
const THREADS: [usize; 4] = [1, 2, 8, 32];
const REPEATS: usize = 3;
/// Cycles between two looks at the stop flag.
const CHUNK: u64 = 32;

const ES_LL: &str = "es-least_loaded";
const ES_FF: &str = "es-fill_first";
const ES_TC: &str = "es-two_choices";
const IDEAL: &str = "ideal-mutex";
const SEED: &str = "seed";
const FLOOR: &str = "floor";
const CONTENDERS: [&str; 6] = [ES_LL, ES_FF, ES_TC, IDEAL, SEED, FLOOR];

// ---------------------------------------------------------------- timing

/// The time-stamp counter where there is one (a few ns, no system call),
/// else the monotonic clock; `Clock::ns` converts.
#[derive(Clone, Copy)]
struct Clock {
    ns_per_tick: f64,
    /// The time base of `ticks` without a time-stamp counter.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    origin: Instant,
}

impl Clock {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn ticks(&self) -> u64 {
        // SAFETY: `rdtsc` has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn ticks(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// Measures the counter's rate against `Instant` over 50 ms.
    fn calibrate() -> Clock {
        let mut c = Clock {
            ns_per_tick: 1.0,
            origin: Instant::now(),
        };
        if cfg!(target_arch = "x86_64") {
            let (i0, t0) = (Instant::now(), c.ticks());
            std::thread::sleep(Duration::from_millis(50));
            let (i1, t1) = (Instant::now(), c.ticks());
            c.ns_per_tick = (i1 - i0).as_nanos() as f64 / (t1 - t0).max(1) as f64;
        }
        c
    }

    fn ns(&self, ticks: u64) -> f64 {
        ticks as f64 * self.ns_per_tick
    }
}

/// Log-linear histogram of tick counts: 16 buckets per power of two.
struct Histogram(Vec<u64>);

const SUB_BITS: u32 = 4;

impl Histogram {
    fn new() -> Histogram {
        Histogram(vec![0; (64 << SUB_BITS) as usize])
    }

    #[inline(always)]
    fn bucket(v: u64) -> usize {
        if v < (1 << SUB_BITS) {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= SUB_BITS
        let sub = (v >> (e - SUB_BITS)) & ((1 << SUB_BITS) - 1);
        (((e - SUB_BITS + 1) << SUB_BITS) as u64 + sub) as usize
    }

    /// The largest value in bucket `b`.
    fn upper(b: usize) -> u64 {
        let b = b as u64;
        if b < (1 << SUB_BITS) {
            return b;
        }
        let e = (b >> SUB_BITS) + SUB_BITS as u64 - 1;
        let sub = b & ((1 << SUB_BITS) - 1);
        let lo = (1u64 << e) + (sub << (e - SUB_BITS as u64));
        lo + (1u64 << (e - SUB_BITS as u64)) - 1
    }

    #[inline(always)]
    fn record(&mut self, v: u64) {
        self.0[Histogram::bucket(v)] += 1;
    }

    fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a += b;
        }
    }

    fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The upper edge of the bucket holding quantile `q`.
    fn quantile(&self, q: f64) -> u64 {
        let n = self.count();
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n.max(1));
        let mut seen = 0;
        for (b, &c) in self.0.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Histogram::upper(b);
            }
        }
        0
    }
}

// ---------------------------------------------------------------- phases

/// Runs `work` on `threads` threads at once for `length`; returns each
/// thread's result and the wall time from the common start to the last
/// thread's end.
fn phase<R: Send>(
    threads: usize,
    length: Duration,
    work: impl Fn(&AtomicBool) -> R + Sync,
) -> (Vec<R>, Duration) {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (stop, barrier, work) = (&stop, &barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    work(stop)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        std::thread::sleep(length);
        stop.store(true, Ordering::Relaxed);
        let results = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (results, start.elapsed())
    })
}

/// Cycles per second of all threads together.
fn throughput<C: Ops>(c: &C, threads: usize, length: Duration) -> f64 {
    let (counts, wall) = phase(threads, length, |stop| {
        let mut l = c.local();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..CHUNK {
                let t = c.reserve(&mut l);
                c.commit(&mut l, black_box(t));
                c.release(&mut l, black_box(t));
            }
            n += CHUNK;
        }
        n
    });
    counts.iter().sum::<u64>() as f64 / wall.as_secs_f64()
}

/// Every reserve's latency, in ticks.
fn latency<C: Ops>(c: &C, clock: &Clock, threads: usize, length: Duration) -> Histogram {
    let (hists, _) = phase(threads, length, |stop| {
        let mut l = c.local();
        let mut h = Histogram::new();
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..CHUNK {
                let t0 = clock.ticks();
                let t = c.reserve(&mut l);
                let t1 = clock.ticks();
                h.record(t1.wrapping_sub(t0));
                c.commit(&mut l, black_box(t));
                c.release(&mut l, black_box(t));
            }
        }
        h
    });
    let mut all = Histogram::new();
    for h in &hists {
        all.merge(h);
    }
    all
}

/// A contender of the table, built fresh for each thread count.
enum Built {
    Slots(Slots),
    Ideal(Ideal),
    Seed(Seed),
    Floor(Floor),
}

fn build(name: &str) -> Built {
    match name {
        ES_LL => Built::Slots(Slots::new(ENGINES, Policy::LeastLoaded)),
        ES_FF => Built::Slots(Slots::new(ENGINES, Policy::FillFirst)),
        ES_TC => Built::Slots(Slots::new(ENGINES, Policy::TwoChoices)),
        IDEAL => Built::Ideal(Ideal::new(ENGINES)),
        SEED => Built::Seed(Seed::new(ENGINES)),
        FLOOR => Built::Floor(Floor::new(ENGINES)),
        _ => unreachable!("unknown contender {name}"),
    }
}

/// Calls `f` with the built contender's concrete type (monomorphised: no
/// dynamic dispatch inside the timed loops).
macro_rules! with_built {
    ($b:expr, |$c:ident| $body:expr) => {
        match $b {
            Built::Slots($c) => $body,
            Built::Ideal($c) => $body,
            Built::Seed($c) => $body,
            Built::Floor($c) => $body,
        }
    };
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn lengths() -> (Duration, Duration) {
    if std::env::var_os("BENCH_QUICK").is_some() {
        (Duration::from_millis(100), Duration::from_millis(100))
    } else {
        (Duration::from_millis(300), Duration::from_millis(300))
    }
}

fn write_out(name: &str, text: &str, csv: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let txt = dir.join(format!("{name}.txt"));
    let csv_path = dir.join(format!("{name}.csv"));
    match std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&txt, text))
        .and_then(|_| std::fs::write(&csv_path, csv))
    {
        Ok(()) => println!("wrote {} and {}", txt.display(), csv_path.display()),
        Err(e) => eprintln!("contention: cannot write {}: {e}", dir.display()),
    }
}

// ---------------------------------------------------------------- the table

struct Row {
    threads: usize,
    name: &'static str,
    /// Cycles per second, each repeat.
    rates: Vec<f64>,
    /// Reserve latency quantiles, ns: p50, p99, p99.9, p99.99.
    lat: [f64; 4],
    samples: u64,
}

#[cfg(not(feature = "bench-counters"))]
fn main() {
    // `cargo test --benches` runs every bench binary once, without
    // `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let clock = Clock::calibrate();
    let (tp_len, lat_len) = lengths();
    let mut rows: Vec<Row> = Vec::new();
    for threads in THREADS {
        let built: Vec<(&str, Built)> = CONTENDERS.iter().map(|&n| (n, build(n))).collect();
        let mut rates = vec![Vec::new(); built.len()];
        for _ in 0..REPEATS {
            for (k, (_, b)) in built.iter().enumerate() {
                rates[k].push(with_built!(b, |c| throughput(c, threads, tp_len)));
            }
        }
        for ((name, b), rates) in built.iter().zip(rates) {
            let h = with_built!(b, |c| latency(c, &clock, threads, lat_len));
            let q = |p: f64| clock.ns(h.quantile(p));
            rows.push(Row {
                threads,
                name,
                rates,
                lat: [q(0.5), q(0.99), q(0.999), q(0.9999)],
                samples: h.count(),
            });
            eprintln!("contention: {threads:>2} threads, {name} done");
        }
    }
    report(&rows, clock);
}

#[cfg(not(feature = "bench-counters"))]
fn report(rows: &[Row], clock: Clock) {
    let get = |threads: usize, name: &str| {
        rows.iter()
            .find(|r| r.threads == threads && r.name == name)
            .map(|r| (median(&mut r.rates.clone()), r.lat))
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "contention: {ENGINES} engines, reserve+commit+release cycles on one shared table; \
         throughput = median of {REPEATS} interleaved phases (min-max in brackets), \
         M cycles/s of all threads; reserve latency in ns (tsc, 1 tick = {:.3} ns)",
        clock.ns_per_tick
    );
    let _ = writeln!(
        out,
        "vs mutex = this throughput / ideal-mutex's; x 1t = this / its own 1-thread \
         throughput; p99.99 mutex/this = the mutex's p99.99 / this p99.99"
    );
    let mut csv = String::from(
        "threads,contender,mcycles_per_s,min,max,vs_mutex,vs_seed,x_1t,p50_ns,p99_ns,p999_ns,p9999_ns,p9999_mutex_over_this,samples\n",
    );
    for threads in THREADS {
        let _ = writeln!(out, "\n{threads} thread(s)");
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>17} {:>8} {:>7} {:>6} {:>8} {:>8} {:>9} {:>9} {:>11}",
            "contender",
            "Mcyc/s",
            "(min-max)",
            "vs mutex",
            "vs seed",
            "x 1t",
            "p50",
            "p99",
            "p99.9",
            "p99.99",
            "p99.99 m/x"
        );
        for r in rows.iter().filter(|r| r.threads == threads) {
            let m = median(&mut r.rates.clone()) / 1e6;
            let lo = r.rates.iter().cloned().fold(f64::MAX, f64::min) / 1e6;
            let hi = r.rates.iter().cloned().fold(0.0, f64::max) / 1e6;
            let mutex = get(threads, IDEAL);
            let vs_mutex = mutex.map(|(x, _)| m * 1e6 / x);
            let vs_seed = get(threads, SEED).map(|(x, _)| m * 1e6 / x);
            let x1 = get(1, r.name).map(|(x, _)| m * 1e6 / x);
            let tail = mutex.map(|(_, l)| l[3] / r.lat[3].max(1e-9));
            let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}x"));
            let _ = writeln!(
                out,
                "{:<16} {:>8.2} {:>17} {:>8} {:>7} {:>6} {:>8.0} {:>8.0} {:>9.0} {:>9.0} {:>11}",
                r.name,
                m,
                format!("({lo:.2}-{hi:.2})"),
                f(vs_mutex),
                f(vs_seed),
                f(x1),
                r.lat[0],
                r.lat[1],
                r.lat[2],
                r.lat[3],
                f(tail)
            );
            let o = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
            let _ = writeln!(
                csv,
                "{threads},{},{m:.4},{lo:.4},{hi:.4},{},{},{},{:.1},{:.1},{:.1},{:.1},{},{}",
                r.name,
                o(vs_mutex),
                o(vs_seed),
                o(x1),
                r.lat[0],
                r.lat[1],
                r.lat[2],
                r.lat[3],
                o(tail),
                r.samples
            );
        }
    }
    // The goals that this table decides.
    let ratio = |a: Option<(f64, [f64; 4])>, b: Option<(f64, [f64; 4])>| match (a, b) {
        (Some((x, _)), Some((y, _))) => Some(x / y),
        _ => None,
    };
    let tail = |a: Option<(f64, [f64; 4])>, b: Option<(f64, [f64; 4])>| match (a, b) {
        (Some((_, x)), Some((_, y))) => Some(x[3] / y[3].max(1e-9)),
        _ => None,
    };
    let _ = writeln!(out, "\ngoals (issue 16), this run:");
    let mut goal = |what: &str, v: Option<f64>, want: f64| {
        let verdict = match v {
            Some(v) if v >= want => "MET",
            Some(_) => "NOT MET",
            None => "n/a",
        };
        let _ = writeln!(
            out,
            "  {what:<58} {:>8}  (goal >= {want}x) {verdict}",
            v.map_or("-".into(), |v| format!("{v:.2}x"))
        );
    };
    for name in [ES_LL, ES_TC, ES_FF] {
        goal(
            &format!("32t: {name} throughput / ideal-mutex"),
            ratio(get(32, name), get(32, IDEAL)),
            2.0,
        );
        goal(
            &format!("32t: ideal-mutex p99.99 / {name} p99.99"),
            tail(get(32, IDEAL), get(32, name)),
            100.0,
        );
    }
    goal(
        "es-least_loaded 2t / 1t throughput",
        ratio(get(2, ES_LL), get(1, ES_LL)),
        1.6,
    );
    let _ = writeln!(
        out,
        "  (noise: floor 2t / 1t = {} — 2.0 on an idle 2-core machine)",
        ratio(get(2, FLOOR), get(1, FLOOR)).map_or("-".into(), |v| format!("{v:.2}x"))
    );
    print!("\n{out}");
    write_out("contention", &out, &csv);
}

// ---------------------------------------------------------------- retries

/// With `bench-counters`: CAS retries per reservation of each engine-slots
/// policy, the least-loaded tie-break at the lowest slot and at a random
/// start, and the throughput of the same phase (counters included).
#[cfg(feature = "bench-counters")]
fn main() {
    use engine_slots::bench_counters;
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (tp_len, _) = lengths();
    let modes: [(&str, Policy, bool); 4] = [
        (
            "es-least_loaded, lowest-slot ties (before)",
            Policy::LeastLoaded,
            true,
        ),
        (
            "es-least_loaded, random start (after)",
            Policy::LeastLoaded,
            false,
        ),
        ("es-fill_first", Policy::FillFirst, false),
        ("es-two_choices", Policy::TwoChoices, false),
    ];
    let mut out = String::from(
        "CAS retries per reservation (selection scans per reservation - 1; feature \
         bench-counters), 16 engines; throughput of the same phase in M cycles/s \
         (median of 3 interleaved phases)\n",
    );
    let mut csv = String::from("threads,mode,retries_per_reserve,mcycles_per_s\n");
    let _ = writeln!(
        out,
        "\n{:<44} {}",
        "mode",
        THREADS
            .map(|t| format!("{:>8} {:>7}", format!("{t}t retr"), "Mcyc/s"))
            .join(" ")
    );
    let mut cells = vec![vec![(0.0, Vec::new()); THREADS.len()]; modes.len()];
    for (ti, threads) in THREADS.into_iter().enumerate() {
        let tables: Vec<Slots> = modes.iter().map(|m| Slots::new(ENGINES, m.1)).collect();
        let mut sums = vec![(0u64, 0u64); modes.len()];
        for _ in 0..REPEATS {
            for (k, (mode, table)) in modes.iter().zip(&tables).enumerate() {
                let lowest = mode.2;
                let (counts, wall) = phase(threads, tp_len, |stop| {
                    bench_counters::set_lowest_slot_ties(lowest);
                    let before = bench_counters::scans();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..CHUNK {
                            let t = table.reserve(&mut ());
                            table.commit(&mut (), black_box(t));
                            table.release(&mut (), black_box(t));
                        }
                        n += CHUNK;
                    }
                    (n, bench_counters::scans() - before)
                });
                let (n, scans) = counts.iter().fold((0, 0), |(a, b), (n, s)| (a + n, b + s));
                sums[k].0 += n;
                sums[k].1 += scans;
                cells[k][ti].1.push(n as f64 / wall.as_secs_f64() / 1e6);
            }
        }
        for (k, (n, scans)) in sums.into_iter().enumerate() {
            cells[k][ti].0 = scans as f64 / n.max(1) as f64 - 1.0;
        }
        eprintln!("retries: {threads:>2} threads done");
    }
    for (k, mode) in modes.iter().enumerate() {
        let mut line = format!("{:<44}", mode.0);
        for (ti, threads) in THREADS.into_iter().enumerate() {
            let (r, rates) = &mut cells[k][ti];
            let m = median(rates);
            let _ = write!(line, " {:>8.4} {:>7.2}", r, m);
            let _ = writeln!(csv, "{threads},{},{r:.5},{m:.4}", mode.0);
        }
        let _ = writeln!(out, "{line}");
    }
    print!("\n{out}");
    write_out("retries", &out, &csv);
}
