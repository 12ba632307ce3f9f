//! The production scenario, replayed in-process: why engine-slots exists.
//!
//! Ten engines take at most two streams each. Bursts of concurrent stream
//! requests arrive; each must be placed on an engine. The orchestrator that
//! counts streams per engine learns about a stream only 20-50 ms after it
//! started, and 5% of requests fail on an error path that forgets to clean up.
//! Three placement strategies run the same request pattern (same seed):
//!
//! 1. read-then-pick: pick the engine with the lowest orchestrator count
//!    below capacity, with no reservation (the original bug);
//! 2. pending map: a `Mutex<HashMap<String, u32>>` of picks the orchestrator
//!    has not reported yet, added on pick and decremented on report (the
//!    seed's fix; the forgetful error path never decrements it);
//! 3. engine-slots: `Table::reserve` -> start -> `commit` -> `release`, with a
//!    pending lease that wins back a reservation the error path dropped.
//!
//! The simulated engines keep their own ground truth (an atomic count of the
//! streams actually running on each), which is what the results are measured
//! against. The exit code is non-zero if engine-slots ever overcommitted an
//! engine or leaked capacity, so the demo doubles as a smoke test.
//!
//! Run: `cargo run --release --example demo -- [--bursts N] [--burst-size N]
//! [--gap-ms N] [--seed N] [--fail-pct P] [--quick]`

use engine_slots::{Config, Engine, Error, Policy, Table, Ticket};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Engines in the fleet.
const ENGINES: usize = 10;
/// Streams one engine may serve at once (`max_streams_per_engine`).
const CAPACITY: u32 = 2;
/// The orchestrator counts a stream this long after it started.
const REPORT_LAG_MS: (u64, u64) = (20, 50);
/// How long a stream lasts (always longer than the report lag).
const STREAM_MS: (u64, u64) = (60, 160);
/// engine-slots: a reservation not committed within this is reclaimed.
const PENDING_LEASE_MS: u32 = 200;
/// engine-slots: a committed stream neither touched nor released within this
/// is reclaimed (far longer than any stream here; streams also touch).
const ACTIVE_LEASE_MS: u32 = 1_000;

// ---------------------------------------------------------------------------
// Settings and the request pattern
// ---------------------------------------------------------------------------

struct Settings {
    bursts: usize,
    burst_size: usize,
    gap_ms: u64,
    seed: u64,
    fail_pct: f64,
}

const USAGE: &str = "usage: demo [--bursts N] [--burst-size N] [--gap-ms N] [--seed N] \
                     [--fail-pct P] [--quick]
  --bursts N      bursts of requests (default 30; --quick: 10)
  --burst-size N  concurrent requests per burst (default 12)
  --gap-ms N      time between bursts in ms (default 100)
  --seed N        seed of the request pattern (default 42)
  --fail-pct P    percent of requests whose error path forgets to clean up (default 5)
  --quick         a short run (10 bursts)";

fn parse_args() -> Result<Settings, String> {
    let mut s = Settings {
        bursts: 30,
        burst_size: 12,
        gap_ms: 100,
        seed: 42,
        fail_pct: 5.0,
    };
    let mut bursts = None;
    let mut quick = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--bursts" => bursts = Some(parse_num(&flag, &value(&flag)?, 1, 100_000)?),
            "--burst-size" => s.burst_size = parse_num(&flag, &value(&flag)?, 1, 200)?,
            "--gap-ms" => s.gap_ms = parse_num(&flag, &value(&flag)?, 1, 10_000)? as u64,
            "--seed" => {
                let v = value(&flag)?;
                s.seed = v
                    .parse()
                    .map_err(|_| format!("--seed: not a number: {v}"))?;
            }
            "--fail-pct" => {
                let v = value(&flag)?;
                s.fail_pct = match v.parse::<f64>() {
                    Ok(p) if (0.0..=100.0).contains(&p) => p,
                    _ => return Err(format!("--fail-pct: expected 0..=100, got {v}")),
                };
            }
            "--quick" => quick = true,
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown argument: {arg}")),
        }
    }
    s.bursts = bursts.unwrap_or(if quick { 10 } else { 30 });
    Ok(s)
}

fn parse_num(flag: &str, v: &str, lo: usize, hi: usize) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("{flag}: expected a number in {lo}..={hi}, got {v}")),
    }
}

/// splitmix64: a tiny deterministic PRNG, so a seed replays the same pattern.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi` (the modulo bias is irrelevant here).
    fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    /// `true` with probability `pct` percent.
    fn chance(&mut self, pct: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) * 100.0 < pct
    }
}

/// One stream request, fixed in advance so every strategy sees the same one.
#[derive(Clone, Copy)]
struct Request {
    /// Delay until the orchestrator counts the stream.
    lag: Duration,
    /// How long the stream runs.
    life: Duration,
    /// The request fails after the pick, on the error path that forgets to
    /// clean up.
    fails: bool,
}

fn pattern(s: &Settings) -> Vec<Vec<Request>> {
    let mut rng = Rng(s.seed);
    (0..s.bursts)
        .map(|_| {
            (0..s.burst_size)
                .map(|_| Request {
                    lag: Duration::from_millis(rng.range(REPORT_LAG_MS)),
                    life: Duration::from_millis(rng.range(STREAM_MS)),
                    fails: rng.chance(s.fail_pct),
                })
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The simulated world: engines (ground truth) and the lagging orchestrator
// ---------------------------------------------------------------------------

fn key(i: usize) -> String {
    format!("engine-{i:02}")
}

struct World {
    /// Ground truth, kept by the engines: streams running on each right now.
    running: Vec<AtomicU32>,
    /// What the orchestrator reports per engine: late by the report lag.
    reported: Vec<AtomicU32>,
    /// Most streams ever running on one engine at once.
    max_running: AtomicU32,
    /// Streams started on an engine that already ran `CAPACITY` streams.
    overcommitted: AtomicU64,
}

impl World {
    fn new() -> World {
        World {
            running: (0..ENGINES).map(|_| AtomicU32::new(0)).collect(),
            reported: (0..ENGINES).map(|_| AtomicU32::new(0)).collect(),
            max_running: AtomicU32::new(0),
            overcommitted: AtomicU64::new(0),
        }
    }
    /// A stream starts on engine `i` (the engine counts it at once).
    fn start(&self, i: usize) {
        let before = self.running[i].fetch_add(1, Relaxed);
        if before >= CAPACITY {
            self.overcommitted.fetch_add(1, Relaxed);
        }
        self.max_running.fetch_max(before + 1, Relaxed);
    }
    /// A stream on engine `i` ends.
    fn end(&self, i: usize) {
        self.running[i].fetch_sub(1, Relaxed);
    }
    /// The orchestrator's (lagging) count for engine `i`.
    fn reported(&self, i: usize) -> u32 {
        self.reported[i].load(Relaxed)
    }
}

// ---------------------------------------------------------------------------
// The three strategies
// ---------------------------------------------------------------------------

/// One way of placing streams. The request driver (`one_request`) is the
/// same for all three, including the error path that forgets to clean up.
trait Strategy: Sync {
    /// What a placed request holds on to until its stream ends.
    type Claim: Send;
    /// The placement decision: an engine and a claim, or `None` (refused).
    fn pick(&self, world: &World) -> Option<(usize, Self::Claim)>;
    /// The stream started; `false` if it must be stopped again.
    fn started(&self, _claim: &Self::Claim) -> bool {
        true
    }
    /// The orchestrator now counts the stream on `engine`.
    fn reported(&self, _engine: usize, _claim: &Self::Claim) {}
    /// The stream ended (the engine and the orchestrator dropped it).
    fn ended(&self, _claim: Self::Claim) {}
    /// After every stream ended: what a proxy's periodic tick would do.
    fn settle(&self) {}
    /// Slots the strategy's own accounting still holds after all streams
    /// ended (and `settle`).
    fn leaked(&self, world: &World) -> u64;
}

/// Picks the lowest `load(i)` below capacity, ties to the lowest index.
fn least_loaded(load: impl Fn(usize) -> u32) -> Option<usize> {
    (0..ENGINES)
        .map(|i| (load(i), i))
        .filter(|&(l, _)| l < CAPACITY)
        .min()
        .map(|(_, i)| i)
}

fn orchestrator_leftover(world: &World) -> u64 {
    (0..ENGINES).map(|i| world.reported(i) as u64).sum()
}

/// Strategy 1, the original bug: trust the orchestrator's count, reserve
/// nothing.
struct ReadThenPick;

impl Strategy for ReadThenPick {
    type Claim = ();
    fn pick(&self, world: &World) -> Option<(usize, ())> {
        least_loaded(|i| world.reported(i)).map(|i| (i, ()))
    }
    fn leaked(&self, world: &World) -> u64 {
        orchestrator_leftover(world)
    }
}

/// Strategy 2, the seed's fix: a locked map of picks the orchestrator has
/// not reported yet, counted as load.
struct PendingMap {
    keys: Vec<String>,
    pending: Mutex<HashMap<String, u32>>,
}

impl PendingMap {
    fn new() -> PendingMap {
        PendingMap {
            keys: (0..ENGINES).map(key).collect(),
            pending: Mutex::new(HashMap::new()),
        }
    }
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.pending.lock().expect("pending map poisoned")
    }
}

impl Strategy for PendingMap {
    type Claim = ();
    fn pick(&self, world: &World) -> Option<(usize, ())> {
        let mut pending = self.map();
        let load = |i: usize| world.reported(i) + pending.get(&self.keys[i]).copied().unwrap_or(0);
        let i = least_loaded(load)?;
        *pending.entry(self.keys[i].clone()).or_insert(0) += 1;
        Some((i, ()))
    }
    fn reported(&self, engine: usize, _: &()) {
        // The orchestrator counts it now (the driver already incremented
        // `reported`), so it stops being pending.
        if let Some(n) = self.map().get_mut(&self.keys[engine]) {
            *n = n.saturating_sub(1);
        }
    }
    fn leaked(&self, world: &World) -> u64 {
        orchestrator_leftover(world) + self.map().values().map(|&n| n as u64).sum::<u64>()
    }
}

/// Strategy 3, engine-slots: the pick and the accounting are one atomic
/// step.
struct Slots {
    table: Table,
    engines: Vec<Engine>,
    /// API calls that failed unexpectedly (none is expected).
    errors: AtomicU64,
    /// Commits that came after the pending lease had run out.
    late_commits: AtomicU64,
    /// Tickets won back by the final `reclaim_expired` tick.
    reclaimed_by_tick: AtomicU32,
}

impl Slots {
    fn new() -> Slots {
        let table = Table::new(Config {
            max_engines: 16,
            max_tickets: 1024,
            default_capacity: CAPACITY,
            pending_lease_ms: PENDING_LEASE_MS,
            active_lease_ms: ACTIVE_LEASE_MS,
            policy: Policy::LeastLoaded,
        })
        .expect("valid config");
        let engines = (0..ENGINES)
            .map(|i| {
                table
                    .add_engine(key(i).as_bytes(), CAPACITY)
                    .expect("add engine")
            })
            .collect();
        Slots {
            table,
            engines,
            errors: AtomicU64::new(0),
            late_commits: AtomicU64::new(0),
            reclaimed_by_tick: AtomicU32::new(0),
        }
    }
    fn check(&self, r: engine_slots::Result<()>) {
        if r.is_err() {
            self.errors.fetch_add(1, Relaxed);
        }
    }
    /// Tickets reclaimed by lease expiry, by the table's own statistics.
    fn expired_total(&self) -> u64 {
        self.table.snapshot().iter().map(|s| s.expired_total).sum()
    }
}

impl Strategy for Slots {
    type Claim = Ticket;
    fn pick(&self, _: &World) -> Option<(usize, Ticket)> {
        match self.table.reserve() {
            Ok(Some(r)) => {
                let i = self.engines.iter().position(|&e| e == r.engine)?;
                Some((i, r.ticket))
            }
            Ok(None) => None,
            Err(_) => {
                self.errors.fetch_add(1, Relaxed);
                None
            }
        }
    }
    fn started(&self, t: &Ticket) -> bool {
        match self.table.commit(*t) {
            Ok(()) => true,
            // The pending lease ran out before the commit (this thread was
            // descheduled for longer than the lease): the slot is gone, so
            // the stream must stop. The lease doing its job, not a fault.
            Err(Error::Stale) => {
                self.late_commits.fetch_add(1, Relaxed);
                false
            }
            Err(_) => {
                self.errors.fetch_add(1, Relaxed);
                false
            }
        }
    }
    fn reported(&self, _: usize, t: &Ticket) {
        // A heartbeat: the stream is alive, extend its active lease.
        self.check(self.table.touch(*t));
    }
    fn ended(&self, t: Ticket) {
        self.check(self.table.release(t));
    }
    fn settle(&self) {
        // Let every pending lease run out, then sweep as a proxy's periodic
        // tick would (reserve also sweeps by itself when it finds no room).
        thread::sleep(Duration::from_millis(u64::from(PENDING_LEASE_MS) + 50));
        self.reclaimed_by_tick
            .store(self.table.reclaim_expired(), Relaxed);
    }
    fn leaked(&self, _: &World) -> u64 {
        // Slots still held on the engines, or (whichever is larger) ticket
        // slots not back on the free list.
        let held: u64 = self
            .table
            .snapshot()
            .iter()
            .map(|s| u64::from(s.active + s.pending))
            .sum();
        let tickets = self.table.ticket_counts();
        held.max(u64::from(tickets.active + tickets.pending))
    }
}

// ---------------------------------------------------------------------------
// Running one strategy
// ---------------------------------------------------------------------------

struct Counters {
    /// Refused requests, per burst.
    refused: Vec<AtomicU64>,
    /// Placed requests that took the forgetful error path.
    forgot: AtomicU64,
    /// Nanoseconds spent inside `pick`, summed over all requests.
    decision_ns: AtomicU64,
}

/// One request, start to end, on its own thread.
fn one_request<S: Strategy>(
    s: &S,
    world: &World,
    c: &Counters,
    burst: usize,
    req: Request,
    go: &Barrier,
) {
    go.wait(); // the whole burst arrives at once
    let t = Instant::now();
    let picked = s.pick(world);
    c.decision_ns
        .fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
    let Some((engine, claim)) = picked else {
        c.refused[burst].fetch_add(1, Relaxed);
        return;
    };
    if req.fails {
        // The error path that forgets to clean up: no cancel, no decrement,
        // no release. The claim is simply dropped.
        c.forgot.fetch_add(1, Relaxed);
        return;
    }
    world.start(engine);
    if !s.started(&claim) {
        world.end(engine); // could not confirm the slot: stop the stream
        return;
    }
    thread::sleep(req.lag);
    world.reported[engine].fetch_add(1, Relaxed);
    s.reported(engine, &claim);
    thread::sleep(req.life.saturating_sub(req.lag));
    // The engine drops the stream first, then the orchestrator, then the
    // strategy's own accounting: never an undercount on the way down.
    world.end(engine);
    world.reported[engine].fetch_sub(1, Relaxed);
    s.ended(claim);
}

struct Outcome {
    name: &'static str,
    requests: u64,
    max_running: u32,
    overcommitted: u64,
    leaked: u64,
    refused: u64,
    refused_first_half: u64,
    refused_second_half: u64,
    forgot: u64,
    /// Decisions per second of time spent in the decision path.
    rate: f64,
}

fn run<S: Strategy>(
    s: &S,
    name: &'static str,
    nth: usize,
    of: usize,
    bursts: &[Vec<Request>],
    gap: Duration,
) -> Outcome {
    let world = World::new();
    let c = Counters {
        refused: bursts.iter().map(|_| AtomicU64::new(0)).collect(),
        forgot: AtomicU64::new(0),
        decision_ns: AtomicU64::new(0),
    };
    let barriers: Vec<Barrier> = bursts.iter().map(|b| Barrier::new(b.len())).collect();
    let tty = std::io::stderr().is_terminal();
    let label = name.split_once(' ').map_or(name, |(_, rest)| rest);
    let t0 = Instant::now();
    thread::scope(|scope| {
        for (b, burst) in bursts.iter().enumerate() {
            // Bursts on a fixed schedule, whatever the threads are doing.
            let due = t0 + gap * b as u32;
            thread::sleep(due.saturating_duration_since(Instant::now()));
            if tty {
                eprint!(
                    "\r[strategy {nth}/{of}] {label}: burst {}/{}   ",
                    b + 1,
                    bursts.len()
                );
                let _ = std::io::stderr().flush();
            }
            for &req in burst {
                let (world, c, go) = (&world, &c, &barriers[b]);
                thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn_scoped(scope, move || one_request(s, world, c, b, req, go))
                    .expect("spawn request thread");
            }
        }
    });
    let wall = t0.elapsed();
    s.settle();
    let requests = bursts.iter().map(|b| b.len() as u64).sum::<u64>();
    let refused: Vec<u64> = c.refused.iter().map(|r| r.load(Relaxed)).collect();
    let half = refused.len() / 2;
    let decision_s = c.decision_ns.load(Relaxed) as f64 / 1e9;
    let out = Outcome {
        name,
        requests,
        max_running: world.max_running.load(Relaxed),
        overcommitted: world.overcommitted.load(Relaxed),
        leaked: s.leaked(&world),
        refused: refused.iter().sum(),
        refused_first_half: refused[..half].iter().sum(),
        refused_second_half: refused[half..].iter().sum(),
        forgot: c.forgot.load(Relaxed),
        rate: if decision_s > 0.0 {
            requests as f64 / decision_s
        } else {
            0.0
        },
    };
    let clear = if tty { "\r" } else { "" };
    eprintln!(
        "{clear}[strategy {nth}/{of}] {label}: {} bursts in {:.1} s          ",
        bursts.len(),
        wall.as_secs_f64()
    );
    out
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.0}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// Prints `text` wrapped at 100 columns: `first` before the first line,
/// `rest` before the others.
fn wrap(first: &str, rest: &str, text: &str) {
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.len() + 1 + word.len() > 100 {
            println!("{line}");
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    println!("{line}");
}

/// One line of the conclusion.
fn say(text: &str) {
    wrap("- ", "  ", text);
}

fn print_table(rows: &[Outcome]) {
    let head = [
        "strategy",
        "requests",
        "max on one engine",
        "overcommitted",
        "leaked at end",
        "refused",
        "req/s",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|o| {
            [
                o.name.to_string(),
                o.requests.to_string(),
                o.max_running.to_string(),
                o.overcommitted.to_string(),
                o.leaked.to_string(),
                o.refused.to_string(),
                rate(o.rate),
            ]
        })
        .collect();
    let width: Vec<usize> = (0..head.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].len())
                .chain([head[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cols: &[&str]| {
        let mut s = String::new();
        for (c, text) in cols.iter().enumerate() {
            if c == 0 {
                s.push_str(&format!("{text:<w$}", w = width[c]));
            } else {
                s.push_str(&format!("  {text:>w$}", w = width[c]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(&head);
    let rule: Vec<String> = width.iter().map(|&w| "-".repeat(w)).collect();
    line(&rule.iter().map(String::as_str).collect::<Vec<_>>());
    for r in &cells {
        line(&r.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

fn main() -> ExitCode {
    let settings = match parse_args() {
        Ok(s) => s,
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("demo: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let bursts = pattern(&settings);
    let gap = Duration::from_millis(settings.gap_ms);
    let slots_total = ENGINES as u32 * CAPACITY;
    wrap(
        "",
        "",
        &format!(
            "engine-slots demo: {ENGINES} engines x capacity {CAPACITY} ({slots_total} slots); \
             {} bursts of {} concurrent requests, one every {} ms. The orchestrator counts a \
             stream {}-{} ms after it starts; streams last {}-{} ms; {}% of requests fail on an \
             error path that forgets to clean up. Seed {}.",
            settings.bursts,
            settings.burst_size,
            settings.gap_ms,
            REPORT_LAG_MS.0,
            REPORT_LAG_MS.1,
            STREAM_MS.0,
            STREAM_MS.1,
            settings.fail_pct,
            settings.seed
        ),
    );

    let started = Instant::now();
    let read = ReadThenPick;
    let map = PendingMap::new();
    let slots = Slots::new();
    let outcomes = [
        run(&read, "1 read-then-pick", 1, 3, &bursts, gap),
        run(&map, "2 pending map (mutex)", 2, 3, &bursts, gap),
        run(&slots, "3 engine-slots", 3, 3, &bursts, gap),
    ];
    let total = started.elapsed();
    println!();
    print_table(&outcomes);
    println!();
    wrap(
        "",
        "",
        &format!(
            "max on one engine, overcommitted: counted by the engines themselves (streams \
             actually running). leaked at end: slots the strategy's own accounting still holds \
             after every stream ended. req/s: placement decisions per second of time spent in \
             the decision path only (requests / summed time inside pick), not whole-run \
             throughput. Total run time {:.1} s.",
            total.as_secs_f64()
        ),
    );
    println!();

    let [s1, s2, s3] = &outcomes;
    if s1.overcommitted > 0 {
        say(&format!(
            "read-then-pick overcommitted {} placements (up to {} streams on one engine of \
             capacity {CAPACITY}): a burst reads the same lagging counts and piles onto one engine.",
            s1.overcommitted, s1.max_running
        ));
    } else {
        say(&format!(
            "read-then-pick did not overcommit this time (max {} on one engine): it goes wrong \
             only when requests pick within the report lag of each other (try a larger \
             --burst-size).",
            s1.max_running
        ));
    }
    let oc2 = match s2.overcommitted {
        0 => "never overcommitted".to_string(),
        n => format!("overcommitted {n} placements"),
    };
    if s2.leaked > 0 {
        let (first, second) = (s2.refused_first_half, s2.refused_second_half);
        let trend = if second > first {
            format!(
                "so refusals grew from {first} (first half of the run) to {second} (second half)"
            )
        } else {
            format!(
                "and refused {first} requests in the first half of the run, {second} in the second"
            )
        };
        say(&format!(
            "pending map {oc2}, but {} forgotten picks leaked {} of {slots_total} slots for good, \
             {trend}.",
            s2.forgot, s2.leaked
        ));
    } else {
        say(&format!(
            "pending map {oc2} and leaked nothing ({} forgotten picks).",
            s2.forgot
        ));
    }
    let errors = slots.errors.load(Relaxed);
    let late = slots.late_commits.load(Relaxed);
    let expired = slots.expired_total();
    let by_tick = u64::from(slots.reclaimed_by_tick.load(Relaxed));
    let ok = s3.overcommitted == 0 && s3.leaked == 0 && s3.max_running <= CAPACITY && errors == 0;
    if ok {
        let won_back = match (s3.forgot, expired) {
            (0, 0) => "no reservation was dropped, so leases had nothing to win back".to_string(),
            (f, e) if f == e => format!(
                "leases won back all {e} dropped reservations, {} in reserve's own sweep and \
                 {by_tick} in the final reclaim_expired tick",
                e.saturating_sub(by_tick)
            ),
            (f, e) => format!(
                "{f} reservations were dropped and leases reclaimed {e} tickets, {} in reserve's \
                 own sweep and {by_tick} in the final reclaim_expired tick",
                e.saturating_sub(by_tick)
            ),
        };
        say(&format!(
            "engine-slots never overcommitted (max {}) and leaked nothing: {won_back}; {} \
             requests refused while no engine had room.",
            s3.max_running, s3.refused
        ));
    } else {
        say(&format!(
            "engine-slots FAILED: max {} on one engine, {} overcommitted, {} leaked at end, {} \
             unexpected API errors.",
            s3.max_running, s3.overcommitted, s3.leaked, errors
        ));
    }
    if late > 0 {
        say(&format!(
            "engine-slots: {late} commits came after the {PENDING_LEASE_MS} ms pending lease (a \
             descheduled thread) and were refused; their streams were stopped, as a proxy must."
        ));
    }
    if s2.rate > 0.0 {
        say(&format!(
            "decision path: engine-slots made {} decisions/s, {:.1}x the mutex map's {}.",
            rate(s3.rate),
            s3.rate / s2.rate,
            rate(s2.rate)
        ));
    }

    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("demo: engine-slots overcommitted or leaked (see above)");
        ExitCode::FAILURE
    }
}
