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
//!   table shows the best phase (the least disturbed), the median and the
//!   worst, and the CPU time the threads got (`CLOCK_THREAD_CPUTIME_ID`): on
//!   a shared machine a thread count's wall-time figure says as much about
//!   the other users as about the contender.
//! * **reserve latency** — `LAT_REPEATS` more phases per contender in which
//!   every reserve is timed with the time-stamp counter (two `rdtsc`, ~10
//!   ns, converted to ns with a frequency measured at start-up; `Instant`
//!   elsewhere) into a log-linear histogram (1/16 of an octave per bucket,
//!   so a quoted percentile is the upper edge of its bucket, within 6.25%).
//!   Kept apart from the throughput phases so the timing does not dilute
//!   the throughput ratios.
//!
//! Contenders: the engine-slots policies, the ideal mutex, the seed design
//! and the floor (`benches/common/contenders.rs`), `floor-shared`: the
//! floor with its compare-and-swaps on the scanned words (what any design
//! that reads every engine and writes one pays for sharing cache lines),
//! and `es-ll-private`: LeastLoaded with a table of 16 engines per thread,
//! the same code sharing nothing (its 2-thread / 1-thread ratio is what the
//! machine gives engine-slots' cycle in that phase; the gap to
//! `es-least_loaded` is the cost of sharing one table).
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
use crossbeam_utils::CachePadded;
use engine_slots::Policy;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

const ENGINES: u32 = 16;
const THREADS: [usize; 4] = [1, 2, 8, 32];
/// Throughput phases per contender and thread count.
const REPEATS: usize = 5;
/// Latency phases per contender and thread count.
const LAT_REPEATS: usize = 3;
/// Cycles between two looks at the stop flag.
const CHUNK: u64 = 32;

const ES_LL: &str = "es-least_loaded";
const ES_FF: &str = "es-fill_first";
const ES_TC: &str = "es-two_choices";
const IDEAL: &str = "ideal-mutex";
const SEED: &str = "seed";
const FLOOR: &str = "floor";
const FLOOR_SHARED: &str = "floor-shared";
const ES_PRIVATE: &str = "es-ll-private";
const CONTENDERS: [&str; 8] = [
    ES_LL,
    ES_FF,
    ES_TC,
    IDEAL,
    SEED,
    FLOOR,
    FLOOR_SHARED,
    ES_PRIVATE,
];

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

/// The calling thread's CPU time, ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// What a phase measured: each thread's result, the wall time from the
/// common start to the last thread's end, and the CPU time all the
/// threads got in it.
struct Phase<R> {
    results: Vec<R>,
    wall: Duration,
    cpu: Duration,
}

/// Runs `work` on `threads` threads at once for `length`.
fn phase<R: Send>(
    threads: usize,
    length: Duration,
    work: impl Fn(&AtomicBool) -> R + Sync,
) -> Phase<R> {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (stop, barrier, work) = (&stop, &barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    let (start, cpu) = (Instant::now(), thread_cpu_ns());
                    let r = work(stop);
                    (r, thread_cpu_ns() - cpu, start, Instant::now())
                })
            })
            .collect();
        barrier.wait();
        std::thread::sleep(length);
        stop.store(true, Ordering::Relaxed);
        let mut results = Vec::with_capacity(threads);
        let (mut cpu, mut first, mut last) = (0, None::<Instant>, None::<Instant>);
        for h in handles {
            let (r, c, start, end) = h.join().unwrap();
            results.push(r);
            cpu += c;
            first = Some(first.map_or(start, |f| f.min(start)));
            last = Some(last.map_or(end, |l| l.max(end)));
        }
        // Wall time from the first worker's start to the last one's end
        // (not the main thread's: with 32 threads on 2 cores it may run
        // long after the workers started).
        Phase {
            results,
            wall: last.unwrap() - first.unwrap(),
            cpu: Duration::from_nanos(cpu),
        }
    })
}

/// A throughput phase: cycles per second of wall time (all threads
/// together) and per second of CPU time the threads got.
#[derive(Clone, Copy)]
struct Rate {
    wall: f64,
    cpu: f64,
}

/// Cycles per second of all threads together.
fn throughput<C: Ops>(c: &C, threads: usize, length: Duration) -> Rate {
    let p = phase(threads, length, |stop| {
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
    let n = p.results.iter().sum::<u64>() as f64;
    Rate {
        wall: n / p.wall.as_secs_f64(),
        cpu: n / p.cpu.as_secs_f64().max(1e-9),
    }
}

/// Every reserve's latency, in ticks.
fn latency<C: Ops>(c: &C, clock: &Clock, threads: usize, length: Duration) -> Histogram {
    let hists = phase(threads, length, |stop| {
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
    })
    .results;
    let mut all = Histogram::new();
    for h in &hists {
        all.merge(h);
    }
    all
}

/// The floor with the writes where a real table has them: every thread
/// runs the floor's scan over N engine words, each on its own cache line
/// (as engine-slots pads its engine cells), but its three compare-and-swaps
/// go to one of those words, its own. What no design that reads every
/// engine and writes one can avoid: each scan reads the lines the other
/// threads just wrote.
struct FloorShared {
    words: Vec<CachePadded<AtomicU64>>,
    next: AtomicUsize,
}

impl FloorShared {
    fn new(engines: u32) -> FloorShared {
        FloorShared {
            words: (0..engines)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    #[inline]
    fn cas(&self, own: usize) {
        let w = &self.words[own];
        let mut cur = w.load(Ordering::Relaxed);
        // Only this thread writes its word, so the first try succeeds.
        while let Err(now) = w.compare_exchange(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed) {
            cur = now;
        }
    }
}

impl Ops for FloorShared {
    /// This thread's word.
    type Local = usize;
    type Token = usize;
    fn local(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.words.len()
    }
    #[inline]
    fn reserve(&self, own: &mut usize) -> usize {
        let mut best = (u64::MAX, 0usize);
        for (i, w) in self.words.iter().enumerate() {
            let load = w.load(Ordering::Relaxed) & 0xF;
            if load < best.0 {
                best = (load, i);
            }
        }
        self.cas(*own);
        best.1
    }
    #[inline]
    fn commit(&self, own: &mut usize, _: usize) {
        self.cas(*own);
    }
    #[inline]
    fn release(&self, own: &mut usize, _: usize) {
        self.cas(*own);
    }
}

/// LeastLoaded with one table per thread (up to 32 threads): engine-slots'
/// cycle with nothing shared between threads.
struct Private {
    tables: Vec<Slots>,
    next: AtomicUsize,
}

impl Private {
    fn new(engines: u32) -> Private {
        Private {
            tables: (0..32)
                .map(|_| Slots::new(engines, Policy::LeastLoaded))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }
}

impl Ops for Private {
    /// This thread's table.
    type Local = usize;
    type Token = engine_slots::Ticket;
    fn local(&self) -> usize {
        // Threads of one phase take consecutive tables (at most 32 at once).
        self.next.fetch_add(1, Ordering::Relaxed) % self.tables.len()
    }
    #[inline]
    fn reserve(&self, own: &mut usize) -> engine_slots::Ticket {
        self.tables[*own].reserve(&mut ())
    }
    #[inline]
    fn commit(&self, own: &mut usize, t: engine_slots::Ticket) {
        self.tables[*own].commit(&mut (), t)
    }
    #[inline]
    fn release(&self, own: &mut usize, t: engine_slots::Ticket) {
        self.tables[*own].release(&mut (), t)
    }
}

/// A contender of the table, built fresh for each thread count.
enum Built {
    Slots(Slots),
    Ideal(Ideal),
    Seed(Seed),
    Floor(Floor),
    FloorShared(FloorShared),
    Private(Private),
}

fn build(name: &str) -> Built {
    match name {
        ES_LL => Built::Slots(Slots::new(ENGINES, Policy::LeastLoaded)),
        ES_FF => Built::Slots(Slots::new(ENGINES, Policy::FillFirst)),
        ES_TC => Built::Slots(Slots::new(ENGINES, Policy::TwoChoices)),
        IDEAL => Built::Ideal(Ideal::new(ENGINES)),
        SEED => Built::Seed(Seed::new(ENGINES)),
        FLOOR => Built::Floor(Floor::new(ENGINES)),
        FLOOR_SHARED => Built::FloorShared(FloorShared::new(ENGINES)),
        ES_PRIVATE => Built::Private(Private::new(ENGINES)),
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
            Built::FloorShared($c) => $body,
            Built::Private($c) => $body,
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
        (Duration::from_millis(200), Duration::from_millis(300))
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
    /// Each repeat's rates.
    rates: Vec<Rate>,
    /// Each repeat's reserve latency quantiles, ns: p50, p99, p99.9,
    /// p99.99.
    lats: Vec<[f64; 4]>,
    samples: u64,
}

impl Row {
    /// The best of the repeats' wall-time rates (the phase least disturbed
    /// by the machine's other users), their median and their worst.
    fn wall(&self) -> (f64, f64, f64) {
        let mut v: Vec<f64> = self.rates.iter().map(|r| r.wall).collect();
        let m = median(&mut v);
        (v[v.len() - 1], m, v[0])
    }
    /// Median over the repeats of each latency quantile.
    fn lat(&self) -> [f64; 4] {
        [0, 1, 2, 3].map(|q| median(&mut self.lats.iter().map(|l| l[q]).collect::<Vec<_>>()))
    }
    /// The smallest and largest p99.99 of the repeats.
    fn p9999_range(&self) -> (f64, f64) {
        let v = self.lats.iter().map(|l| l[3]);
        (v.clone().fold(f64::MAX, f64::min), v.fold(0.0, f64::max))
    }
    /// Median of the repeats' CPU-time rates.
    fn cpu(&self) -> f64 {
        median(&mut self.rates.iter().map(|r| r.cpu).collect::<Vec<_>>())
    }
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
        let mut lats = vec![Vec::new(); built.len()];
        let mut samples = vec![0; built.len()];
        for r in 0..REPEATS {
            for (k, (_, b)) in built.iter().enumerate() {
                rates[k].push(with_built!(b, |c| throughput(c, threads, tp_len)));
                if r >= LAT_REPEATS {
                    continue;
                }
                let h = with_built!(b, |c| latency(c, &clock, threads, lat_len));
                let q = |p: f64| clock.ns(h.quantile(p));
                lats[k].push([q(0.5), q(0.99), q(0.999), q(0.9999)]);
                samples[k] += h.count();
            }
        }
        for (k, (name, _)) in built.iter().enumerate() {
            rows.push(Row {
                threads,
                name,
                rates: std::mem::take(&mut rates[k]),
                lats: std::mem::take(&mut lats[k]),
                samples: samples[k],
            });
        }
        eprintln!("contention: {threads:>2} threads done");
    }
    report(&rows, clock);
}

#[cfg(not(feature = "bench-counters"))]
fn report(rows: &[Row], clock: Clock) {
    let get =
        |threads: usize, name: &str| rows.iter().find(|r| r.threads == threads && r.name == name);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(x), Some(y)) if y > 0.0 => Some(x / y),
        _ => None,
    };
    let wall = |threads: usize, name: &str| get(threads, name).map(|r| r.wall().0);
    let cpu = |threads: usize, name: &str| get(threads, name).map(|r| r.cpu());
    let p9999 = |threads: usize, name: &str| get(threads, name).map(|r| r.lat()[3]);
    let fx = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}x"));
    // A latency range in ns, or in us / ms when large.
    let short = |ns: f64| {
        if ns >= 1e6 {
            format!("{:.1}ms", ns / 1e6)
        } else if ns >= 1e4 {
            format!("{:.0}us", ns / 1e3)
        } else {
            format!("{ns:.0}")
        }
    };
    let span = |lo: f64, hi: f64| format!("{}-{}", short(lo), short(hi));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "contention: {ENGINES} engines, reserve+commit+release cycles on one shared table, this run.\n\
         Mcyc/s = million cycles per second of wall time, all threads: the best of \
         {REPEATS} interleaved phases (the least disturbed by the machine's other users), \
         median and worst in brackets; vs mutex, vs seed = ratio of the bests to the \
         ideal-mutex's, the seed's; x 1t = ratio to its own 1-thread best; cpu = CPU \
         time the threads got / wall time (2.00 = both cores all the time; mean of the \
         phases); Mcyc/cpu-s = cycles per second of that CPU time (median); reserve \
         latency in ns ({LAT_REPEATS} more phases per contender: median of their quantiles; \
         tsc, 1 tick = {:.3} ns; the p99.99 of each phase in brackets); p99.99 m/x = \
         the mutex's p99.99 / this one's.",
        clock.ns_per_tick
    );
    let mut csv = String::from(
        "threads,contender,mcycles_per_s,median,worst,vs_mutex,vs_seed,x_1t,cpu_share,mcycles_per_cpu_s,p50_ns,p99_ns,p999_ns,p9999_ns,p9999_min_ns,p9999_max_ns,p9999_mutex_over_this,samples\n",
    );
    for threads in THREADS {
        let _ = writeln!(out, "\n{threads} thread(s)");
        let _ = writeln!(
            out,
            "{:<16} {:>7} {:>15} {:>8} {:>7} {:>6} {:>5} {:>10} {:>6} {:>6} {:>7} {:>8} {:>15} {:>10}",
            "contender",
            "Mcyc/s",
            "(median/worst)",
            "vs mutex",
            "vs seed",
            "x 1t",
            "cpu",
            "Mcyc/cpu-s",
            "p50",
            "p99",
            "p99.9",
            "p99.99",
            "(min-max)",
            "p99.99 m/x"
        );
        for r in rows.iter().filter(|r| r.threads == threads) {
            let (m, med, lo) = r.wall();
            let share = r.rates.iter().map(|x| x.wall / x.cpu).sum::<f64>() / r.rates.len() as f64;
            let vs_mutex = ratio(Some(m), wall(threads, IDEAL));
            let vs_seed = ratio(Some(m), wall(threads, SEED));
            let x1 = ratio(Some(m), wall(1, r.name));
            let lat = r.lat();
            let (t_lo, t_hi) = r.p9999_range();
            let tail = ratio(p9999(threads, IDEAL), Some(lat[3].max(1e-9)));
            let _ = writeln!(
                out,
                "{:<16} {:>7.2} {:>15} {:>8} {:>7} {:>6} {:>5.2} {:>10.2} {:>6.0} {:>6.0} {:>7.0} {:>8.0} {:>15} {:>10}",
                r.name,
                m / 1e6,
                format!("({:.2}/{:.2})", med / 1e6, lo / 1e6),
                fx(vs_mutex),
                fx(vs_seed),
                fx(x1),
                share,
                r.cpu() / 1e6,
                lat[0],
                lat[1],
                lat[2],
                lat[3],
                format!("({})", span(t_lo, t_hi)),
                fx(tail)
            );
            let o = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
            let _ = writeln!(
                csv,
                "{threads},{},{:.4},{:.4},{:.4},{},{},{},{share:.3},{:.4},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{},{}",
                r.name,
                m / 1e6,
                med / 1e6,
                lo / 1e6,
                o(vs_mutex),
                o(vs_seed),
                o(x1),
                r.cpu() / 1e6,
                lat[0],
                lat[1],
                lat[2],
                lat[3],
                t_lo,
                t_hi,
                o(tail),
                r.samples
            );
        }
    }
    // The goals that this table decides.
    let _ = writeln!(out, "\ngoals (issue 16), this run:");
    let mut goal = |what: &str, v: Option<f64>, want: f64| {
        let verdict = match v {
            Some(v) if v >= want => "MET",
            Some(_) => "NOT MET",
            None => "n/a",
        };
        let _ = writeln!(
            out,
            "  {what:<60} {:>8}  (goal >= {want}x) {verdict}",
            fx(v)
        );
    };
    for name in [ES_LL, ES_TC, ES_FF] {
        goal(
            &format!("32t: {name} throughput / ideal-mutex"),
            ratio(wall(32, name), wall(32, IDEAL)),
            2.0,
        );
        goal(
            &format!("32t: ideal-mutex p99.99 / {name} p99.99"),
            ratio(p9999(32, IDEAL), p9999(32, name)),
            100.0,
        );
        goal(
            &format!("32t: (seed p99.99 / {name} p99.99)"),
            ratio(p9999(32, SEED), p9999(32, name)),
            100.0,
        );
    }
    goal(
        "es-least_loaded 2t / 1t throughput (best phases)",
        ratio(wall(2, ES_LL), wall(1, ES_LL)),
        1.6,
    );
    let _ = writeln!(out, "  noise and what limits the scaling (2t / 1t):");
    for name in [ES_LL, ES_PRIVATE, ES_TC, FLOOR, FLOOR_SHARED, IDEAL] {
        let _ = writeln!(
            out,
            "    {name:<16} best wall {:>6}, per CPU-second {:>6} (so {:>6} on two idle cores)",
            fx(ratio(wall(2, name), wall(1, name))),
            fx(ratio(cpu(2, name), cpu(1, name))),
            fx(ratio(cpu(2, name), cpu(1, name)).map(|e| 2.0 * e)),
        );
    }
    let _ = writeln!(
        out,
        "    (floor: 2.00x wall on an idle 2-core machine; less = the other users' share)"
    );
    let _ = writeln!(
        out,
        "  what sharing one table costs and what the cycle alone allows, this run:"
    );
    let _ = writeln!(
        out,
        "    es-least_loaded 2t/1t {} of es-ll-private's 2t/1t ({} / {})",
        fx(ratio(
            ratio(wall(2, ES_LL), wall(1, ES_LL)),
            ratio(wall(2, ES_PRIVATE), wall(1, ES_PRIVATE))
        )),
        fx(ratio(wall(2, ES_LL), wall(1, ES_LL))),
        fx(ratio(wall(2, ES_PRIVATE), wall(1, ES_PRIVATE))),
    );
    for t in [2, 32] {
        let _ = writeln!(
            out,
            "    {t}t: es-ll-private (nothing shared) / ideal-mutex {}, es-least_loaded / es-ll-private {}",
            fx(ratio(wall(t, ES_PRIVATE), wall(t, IDEAL))),
            fx(ratio(wall(t, ES_LL), wall(t, ES_PRIVATE))),
        );
    }
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
         bench-counters), 16 engines, this run; retr = retries per reservation over 5 \
         interleaved phases; Mcyc/s = million cycles per second of wall time, and \
         per second of the CPU time the threads got (medians; counters included)\n",
    );
    let mut csv =
        String::from("threads,mode,retries_per_reserve,mcycles_per_s,mcycles_per_cpu_s\n");
    let _ = writeln!(
        out,
        "\n{:<44} {}",
        "mode",
        THREADS
            .map(|t| format!("{:>9} {:>6} {:>6}", format!("{t}t retr"), "wall", "cpu"))
            .join(" ")
    );
    type Cell = (f64, Vec<f64>, Vec<f64>);
    let mut cells: Vec<Vec<Cell>> =
        vec![vec![(0.0, Vec::new(), Vec::new()); THREADS.len()]; modes.len()];
    for (ti, threads) in THREADS.into_iter().enumerate() {
        let tables: Vec<Slots> = modes.iter().map(|m| Slots::new(ENGINES, m.1)).collect();
        let mut sums = vec![(0u64, 0u64); modes.len()];
        for _ in 0..REPEATS {
            for (k, (mode, table)) in modes.iter().zip(&tables).enumerate() {
                let lowest = mode.2;
                let p = phase(threads, tp_len, |stop| {
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
                let (n, scans) = p
                    .results
                    .iter()
                    .fold((0, 0), |(a, b), (n, s)| (a + n, b + s));
                sums[k].0 += n;
                sums[k].1 += scans;
                cells[k][ti].1.push(n as f64 / p.wall.as_secs_f64() / 1e6);
                cells[k][ti]
                    .2
                    .push(n as f64 / p.cpu.as_secs_f64().max(1e-9) / 1e6);
            }
        }
        for (k, (n, scans)) in sums.into_iter().enumerate() {
            cells[k][ti].0 = scans as f64 / n.max(1) as f64 - 1.0;
        }
        eprintln!("retries: {threads:>2} threads done");
    }
    let mut per_cpu = vec![[0.0; THREADS.len()]; modes.len()];
    for (k, mode) in modes.iter().enumerate() {
        let mut line = format!("{:<44}", mode.0);
        for (ti, threads) in THREADS.into_iter().enumerate() {
            let (r, walls, cpus) = &mut cells[k][ti];
            let (w, c) = (median(walls), median(cpus));
            per_cpu[k][ti] = c;
            let _ = write!(line, " {:>9.4} {:>6.2} {:>6.2}", r, w, c);
            let _ = writeln!(csv, "{threads},{},{r:.5},{w:.4},{c:.4}", mode.0);
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "\ncycles per CPU-second at T threads / at 1 thread (1.00 = no cost from sharing \
         the table; x2 = the 2-thread speed-up two idle cores would give):"
    );
    for (k, mode) in modes.iter().enumerate() {
        let eff: Vec<String> = per_cpu[k]
            .iter()
            .zip(THREADS)
            .map(|(c, t)| format!("{t}t {:.2}", c / per_cpu[k][0]))
            .collect();
        let _ = writeln!(out, "  {:<44} {}", mode.0, eff.join("  "));
    }
    print!("\n{out}");
    write_out("retries", &out, &csv);
}
