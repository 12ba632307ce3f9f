//! Part 2 of the benchmark: 1, 4 and 16 client threads, four ways of doing
//! reserve -> commit -> release, each for a fixed time, in one run.

use crate::pct;
use crate::watch_multi::WatchMulti;
use engine_slots::{Config, RemoteTable, Table};
use std::time::{Duration, Instant};

const ENGINES: usize = 16;
const CAPACITY: u32 = 100;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    InProcess,
    Remote,
    Confirmed,
    WatchMulti,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::InProcess => "in-process table",
            Mode::Remote => "remote",
            Mode::Confirmed => "remote, confirm=1",
            Mode::WatchMulti => "WATCH/MULTI loop",
        }
    }
}

/// Per-op latencies and completed cycles of one thread.
#[derive(Default)]
struct Run {
    lat: [Vec<Duration>; 3],
    cycles: u64,
    retries: u64,
}

impl Run {
    fn add(&mut self, o: Run) {
        for (a, b) in self.lat.iter_mut().zip(o.lat) {
            a.extend(b);
        }
        self.cycles += o.cycles;
        self.retries += o.retries;
    }
}

fn cfg() -> Config {
    Config {
        max_engines: ENGINES as u32,
        max_tickets: 4096,
        default_capacity: CAPACITY,
        pending_lease_ms: 30_000,
        active_lease_ms: 0,
        ..Config::default()
    }
}

/// Times `f` (one of reserve, commit, release) into `lat`.
fn timed<T>(lat: &mut Vec<Duration>, f: impl FnOnce() -> T) -> T {
    let a = Instant::now();
    let r = f();
    lat.push(a.elapsed());
    r
}

fn one_thread(mode: Mode, url: &str, local: &Table, remote: &RemoteTable, until: Instant) -> Run {
    let mut run = Run::default();
    let mut alt = (mode == Mode::WatchMulti)
        .then(|| WatchMulti::connect(url, "bench", i64::from(CAPACITY)).unwrap());
    while Instant::now() < until {
        let [r, c, l] = &mut run.lat;
        match mode {
            Mode::InProcess => {
                let t = timed(r, || local.reserve().unwrap().expect("room")).ticket;
                timed(c, || local.commit(t).unwrap());
                timed(l, || local.release(t).unwrap());
            }
            Mode::Remote | Mode::Confirmed => {
                let t = timed(r, || remote.reserve().unwrap().expect("room")).ticket;
                timed(c, || remote.commit(t).unwrap());
                timed(l, || remote.release(t).unwrap());
            }
            Mode::WatchMulti => {
                let a = alt.as_mut().unwrap();
                let (t, e) = timed(r, || a.reserve().unwrap().expect("room"));
                timed(c, || a.commit(t, &e).unwrap());
                timed(l, || a.release(t, &e).unwrap());
            }
        }
        run.cycles += 1;
    }
    if let Some(a) = alt {
        run.retries = a.retries;
    }
    run
}

pub fn run(url: &str, secs: Duration) {
    let local = Table::new(cfg()).unwrap();
    let _ = RemoteTable::unlink(url, "bench");
    let remote = RemoteTable::open(url, "bench", Some(&cfg())).unwrap();
    let confirmed = RemoteTable::open(&format!("{url}?confirm=1"), "bench", None).unwrap();
    for i in 0..ENGINES {
        let key = format!("engine-{i}");
        local.add_engine(key.as_bytes(), 0).unwrap();
        remote.add_engine(key.as_bytes(), 0).unwrap();
    }
    WatchMulti::setup(url, "bench", ENGINES).unwrap();
    println!(
        "2. reserve -> commit -> release, {ENGINES} engines, {} s per line, same run; latency in µs",
        secs.as_secs_f64()
    );
    println!(
        "{:<18} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>9}",
        "mode",
        "threads",
        "res p50",
        "res p99",
        "com p50",
        "com p99",
        "rel p50",
        "rel p99",
        "cycles/s",
        "retries"
    );
    let mut rates = Vec::new();
    for threads in [1usize, 4, 16] {
        for mode in [
            Mode::InProcess,
            Mode::Remote,
            Mode::Confirmed,
            Mode::WatchMulti,
        ] {
            let table = if mode == Mode::Confirmed {
                &confirmed
            } else {
                &remote
            };
            // Warm up (connections, pools), then measure.
            let warm = Instant::now() + Duration::from_millis(200);
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| one_thread(mode, url, &local, table, warm));
                }
            });
            let until = Instant::now() + secs;
            let start = Instant::now();
            let mut all = Run::default();
            std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads)
                    .map(|_| s.spawn(|| one_thread(mode, url, &local, table, until)))
                    .collect();
                for h in hs {
                    all.add(h.join().unwrap());
                }
            });
            let rate = all.cycles as f64 / start.elapsed().as_secs_f64();
            rates.push((threads, mode, rate));
            let [r, c, l] = &mut all.lat;
            println!(
                "{:<18} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>11.0} {:>9}",
                mode.name(),
                threads,
                pct(r, 0.5),
                pct(r, 0.99),
                pct(c, 0.5),
                pct(c, 0.99),
                pct(l, 0.5),
                pct(l, 0.99),
                rate,
                all.retries
            );
        }
    }
    println!();
    println!("ratios of cycles/s, same run:");
    for threads in [1usize, 4, 16] {
        let of = |m: Mode| {
            rates
                .iter()
                .find(|(t, mm, _)| *t == threads && *mm == m)
                .map_or(f64::NAN, |r| r.2)
        };
        println!(
            "  {threads:>2} threads: remote / WATCH-MULTI = {:.2}x, remote confirm=1 / WATCH-MULTI = {:.2}x, \
             confirm=1 / remote = {:.2}x, in-process / remote = {:.0}x",
            of(Mode::Remote) / of(Mode::WatchMulti),
            of(Mode::Confirmed) / of(Mode::WatchMulti),
            of(Mode::Confirmed) / of(Mode::Remote),
            of(Mode::InProcess) / of(Mode::Remote)
        );
    }
    drop(confirmed);
    drop(remote);
    let _ = RemoteTable::unlink(url, "bench");
}
