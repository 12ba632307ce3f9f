//! One proxy process: its share of every burst of the incident, placed
//! through the remote table (confirmed mode), streams run against the
//! shared world.

use crate::world::{Count, World, ENGINES};
use engine_slots::{Error, RemoteTable};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The orchestrator counts a stream this long after it started.
pub const REPORT_LAG_MS: (u64, u64) = (20, 50);
/// How long a stream lasts.
pub const STREAM_MS: (u64, u64) = (60, 160);

/// splitmix64, so every proxy derives the same request pattern from the seed.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// One stream request, fixed in advance.
#[derive(Clone, Copy)]
pub struct Request {
    lag: Duration,
    life: Duration,
    fails: bool,
}

/// The whole run's requests, burst by burst (the same in every process).
pub fn pattern(seed: u64, bursts: usize, size: usize, fail_pct: u64) -> Vec<Vec<Request>> {
    let mut rng = Rng(seed);
    (0..bursts)
        .map(|_| {
            (0..size)
                .map(|_| Request {
                    lag: Duration::from_millis(rng.range(REPORT_LAG_MS)),
                    life: Duration::from_millis(rng.range(STREAM_MS)),
                    fails: rng.chance(fail_pct),
                })
                .collect()
        })
        .collect()
}

/// What a proxy process is told on its command line.
pub struct Job {
    pub index: usize,
    pub proxies: usize,
    pub url: String,
    pub table: String,
    pub world: std::path::PathBuf,
    /// When burst 0 arrives, in ms since the epoch (the same in every process).
    pub start_ms: u64,
    pub gap_ms: u64,
    pub bursts: Vec<Vec<Request>>,
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One request, start to end, on its own thread (as in `make demo`).
fn one_request(t: &RemoteTable, index: &Index, w: &World, req: Request, go: &Barrier) {
    go.wait();
    w.count(Count::Requests).fetch_add(1, SeqCst);
    let at = std::time::Instant::now();
    let picked = t.reserve();
    w.count(Count::DecisionNs)
        .fetch_add(at.elapsed().as_nanos() as u64, SeqCst);
    let r = match picked {
        Ok(Some(r)) => r,
        Ok(None) => {
            w.count(Count::Refused).fetch_add(1, SeqCst);
            return;
        }
        Err(_) => {
            // No answer, or no replica confirmed: the caller has no ticket.
            w.count(Count::Unavailable).fetch_add(1, SeqCst);
            return;
        }
    };
    let Some(&i) = index.get(&r.engine) else {
        w.count(Count::Unavailable).fetch_add(1, SeqCst);
        return;
    };
    if req.fails {
        // The error path that forgets to clean up: the ticket is dropped.
        w.count(Count::Forgot).fetch_add(1, SeqCst);
        return;
    }
    w.start(i);
    if let Err(e) = t.commit(r.ticket) {
        // Not confirmed (or the lease ran out): stop the stream, give the
        // ticket back if the table answers; its lease does otherwise.
        w.end(i);
        w.count(Count::CommitFailed).fetch_add(1, SeqCst);
        if e != Error::Stale {
            let _ = t.finish(r.ticket);
        }
        return;
    }
    thread::sleep(req.lag);
    w.report(i, true);
    let _ = t.touch(r.ticket);
    thread::sleep(req.life.saturating_sub(req.lag));
    w.end(i);
    w.report(i, false);
    // A release lost in the failover leaves the slot counted until its
    // active lease: conservative, never an overcommit.
    let _ = t.release(r.ticket);
}

/// Engine handle -> its index in the world (`engine-00` is 0).
type Index = std::collections::HashMap<engine_slots::Engine, usize>;

/// Runs this proxy's share of every burst, on the common schedule.
pub fn run(job: &Job) -> Result<(), String> {
    let w = World::open(&job.world).map_err(|e| format!("world: {e}"))?;
    let t = RemoteTable::open(&job.url, &job.table, None).map_err(|e| format!("open: {e}"))?;
    let mut index = Index::new();
    for i in 0..ENGINES {
        let e = t
            .find_engine(format!("engine-{i:02}").as_bytes())
            .map_err(|e| format!("find engine: {e}"))?;
        index.insert(e, i);
    }
    thread::scope(|s| {
        for (b, burst) in job.bursts.iter().enumerate() {
            let mine: Vec<Request> = burst
                .iter()
                .enumerate()
                .filter(|(k, _)| k % job.proxies == job.index)
                .map(|(_, r)| *r)
                .collect();
            let due = job.start_ms + job.gap_ms * b as u64;
            thread::sleep(Duration::from_millis(due.saturating_sub(epoch_ms())));
            let go = std::sync::Arc::new(Barrier::new(mine.len()));
            for req in mine {
                let (t, index, w, go) = (&t, &index, &w, std::sync::Arc::clone(&go));
                thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(s, move || one_request(t, index, w, req, &go))
                    .expect("spawn request thread");
            }
        }
    });
    Ok(())
}
