//! `make demo-cluster`: the incident of `make demo`, replayed by three proxy
//! processes that share one remote table on a replicated Redis, the primary
//! SIGKILLed halfway.
//!
//! It starts, on free localhost ports, a primary, two replicas (the confirmed
//! mode needs a replica after the failover too) and one Sentinel; creates
//! the table (10 engines of capacity 2) through `redis+sentinel://` with
//! `?confirm=1`; runs three copies of itself as proxies, each placing a third
//! of every burst of the incident's request pattern, streams counted by the
//! engines themselves in a shared file; kills the primary halfway; and
//! prints the same table as `make demo`. Every server it started is stopped
//! at the end, whatever happens (they die with it).
//!
//! Run: `cargo run --release --example demo_cluster -- [--bursts N]
//! [--burst-size N] [--gap-ms N] [--seed N] [--fail-pct P]`

#[path = "../../tests/support/redis_cluster.rs"]
#[allow(dead_code)]
mod redis_cluster;
#[path = "../../tests/support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

mod proxy;
mod world;

use engine_slots::{Config, Policy, RemoteTable};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use world::{Count, World, CAPACITY, ENGINES};

const PROXIES: usize = 3;
/// A reservation not committed within this is reclaimed.
const PENDING_LEASE_MS: u32 = 1_000;
/// A stream neither touched nor released within this is reclaimed (a
/// release lost in the failover comes back after it).
const ACTIVE_LEASE_MS: u32 = 3_000;
const TABLE: &str = "demo-cluster";

struct Settings {
    bursts: usize,
    burst_size: usize,
    gap_ms: u64,
    seed: u64,
    fail_pct: u64,
}

const USAGE: &str = "usage: demo_cluster [--bursts N] [--burst-size N] [--gap-ms N] [--seed N] \
                     [--fail-pct P]
  --bursts N      bursts of requests (default 60; the primary dies after half)
  --burst-size N  concurrent requests per burst, split over 3 proxies (default 12)
  --gap-ms N      time between bursts in ms (default 100)
  --seed N        seed of the request pattern (default 42)
  --fail-pct P    percent of requests whose error path forgets to clean up (default 5)";

fn num(flag: &str, v: Option<String>, lo: u64, hi: u64) -> Result<u64, String> {
    match v.as_deref().map(str::parse::<u64>) {
        Some(Ok(n)) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("{flag}: expected a number in {lo}..={hi}")),
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `--proxy K URL WORLD START_MS` plus the settings: a proxy process.
fn proxy_main(mut args: impl Iterator<Item = String>, s: &Settings) -> ExitCode {
    let (Some(k), Some(url), Some(w), Some(start)) =
        (args.next(), args.next(), args.next(), args.next())
    else {
        eprintln!("demo_cluster --proxy: missing arguments");
        return ExitCode::from(2);
    };
    let job = proxy::Job {
        index: k.parse().unwrap_or(0),
        proxies: PROXIES,
        url,
        table: TABLE.into(),
        world: w.into(),
        start_ms: start.parse().unwrap_or(0),
        gap_ms: s.gap_ms,
        bursts: proxy::pattern(s.seed, s.bursts, s.burst_size, s.fail_pct),
    };
    match proxy::run(&job) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proxy {k}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let mut s = Settings {
        bursts: 60,
        burst_size: 12,
        gap_ms: 100,
        seed: 42,
        fail_pct: 5,
    };
    let mut args = std::env::args().skip(1);
    let mut proxy = None;
    let mut rest = Vec::new();
    while let Some(a) = args.next() {
        let r = match a.as_str() {
            "--bursts" => num(&a, args.next(), 2, 10_000).map(|n| s.bursts = n as usize),
            "--burst-size" => num(&a, args.next(), 1, 300).map(|n| s.burst_size = n as usize),
            "--gap-ms" => num(&a, args.next(), 1, 10_000).map(|n| s.gap_ms = n),
            "--seed" => num(&a, args.next(), 0, u64::MAX).map(|n| s.seed = n),
            "--fail-pct" => num(&a, args.next(), 0, 100).map(|n| s.fail_pct = n),
            "--proxy" => {
                proxy = Some(());
                rest.extend(args.by_ref());
                Ok(())
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => Err(format!("unknown argument {a}")),
        };
        if let Err(e) = r {
            eprintln!("demo_cluster: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    if proxy.is_some() {
        return proxy_main(rest.into_iter(), &s);
    }
    if redis_server::binary().is_none() {
        eprintln!(
            "demo_cluster: needs redis-server on PATH (make deps, or apt-get install redis-server)"
        );
        return ExitCode::from(2);
    }
    match orchestrate(&s) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("demo_cluster: engine-slots overcommitted or leaked (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("demo_cluster: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Kills the proxies if the demo stops early.
struct Proxies(Vec<std::process::Child>);

impl Drop for Proxies {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Prints `text` wrapped at 100 columns, `first` before the first line and
/// `rest` before the others (as `make demo`).
fn say(first: &str, rest: &str, text: &str) {
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

fn orchestrate(s: &Settings) -> Result<bool, String> {
    let slots = ENGINES as u64 * CAPACITY;
    say("", "", &format!(
        "engine-slots demo-cluster: {ENGINES} engines x capacity {CAPACITY} ({slots} slots) in one \
         remote table; {PROXIES} proxy processes share it through Sentinel with ?confirm=1; {} bursts \
         of {} concurrent requests, one every {} ms, {}% on an error path that forgets to clean up; \
         the primary is SIGKILLed after burst {}. Seed {}.",
        s.bursts,
        s.burst_size,
        s.gap_ms,
        s.fail_pct,
        s.bursts / 2,
        s.seed
    ));
    eprintln!("[demo-cluster] starting a primary, two replicas and a Sentinel...");
    let mut c = redis_cluster::RedisCluster::start_or_skip("demo-cluster", 2, true)
        .ok_or("could not start redis-server")?;
    let url = format!(
        "{}?timeout_ms=1000&confirm=1&confirm_ms=300",
        c.sentinel_url()
    );
    let cfg = Config {
        max_engines: 16,
        max_tickets: 1024,
        default_capacity: CAPACITY as u32,
        pending_lease_ms: PENDING_LEASE_MS,
        active_lease_ms: ACTIVE_LEASE_MS,
        policy: Policy::LeastLoaded,
    };
    let t = RemoteTable::open(&url, TABLE, Some(&cfg)).map_err(|e| format!("open: {e}"))?;
    for i in 0..ENGINES {
        t.add_engine(format!("engine-{i:02}").as_bytes(), 0)
            .map_err(|e| format!("add engine: {e}"))?;
    }
    let dir = std::env::temp_dir().join(format!("es-demo-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let world_path = dir.join("world");
    let w = World::open(&world_path).map_err(|e| e.to_string())?;

    let start_ms = epoch_ms() + 700; // time for the proxies to connect
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut proxies = Proxies(Vec::new());
    for k in 0..PROXIES {
        let child = Command::new(&exe)
            .args([
                "--bursts",
                &s.bursts.to_string(),
                "--burst-size",
                &s.burst_size.to_string(),
                "--gap-ms",
                &s.gap_ms.to_string(),
                "--seed",
                &s.seed.to_string(),
                "--fail-pct",
                &s.fail_pct.to_string(),
                "--proxy",
                &k.to_string(),
                &url,
                world_path.to_str().ok_or("temp path")?,
                &start_ms.to_string(),
            ])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn proxy: {e}"))?;
        proxies.0.push(child);
    }
    eprintln!("[demo-cluster] {PROXIES} proxies replaying the incident...");
    let kill_ms = start_ms + s.gap_ms * (s.bursts / 2) as u64;
    std::thread::sleep(Duration::from_millis(kill_ms.saturating_sub(epoch_ms())));
    let old = c.primary.port;
    c.primary.kill();
    let killed = Instant::now();
    eprintln!("[demo-cluster] primary (port {old}) SIGKILLed; waiting for Sentinel...");
    let mut promoted = None;
    while killed.elapsed() < Duration::from_secs(60) {
        if let Some(p) = c.primary_named().filter(|&p| p != old) {
            promoted = Some((p, killed.elapsed()));
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (new_port, promoted_after) = promoted.ok_or("Sentinel promoted no replica in 60 s")?;
    eprintln!("[demo-cluster] Sentinel promoted port {new_port} after {promoted_after:.1?}");
    for mut p in std::mem::take(&mut proxies.0) {
        let st = p.wait().map_err(|e| e.to_string())?;
        if !st.success() {
            return Err(format!("a proxy failed: {st}"));
        }
    }
    let wall = Duration::from_millis(epoch_ms().saturating_sub(start_ms));

    // Every stream ended; leases win back what the failover and the
    // forgetful error path left, as a proxy's periodic tick would.
    let settle = Instant::now();
    let mut reclaimed = 0;
    let leaked = loop {
        reclaimed += t.reclaim_expired().unwrap_or(0);
        let held: u64 = t
            .snapshot()
            .map_err(|e| format!("snapshot: {e}"))?
            .iter()
            .map(|e| u64::from(e.active + e.pending))
            .sum();
        if held == 0 || settle.elapsed() > Duration::from_millis(3 * ACTIVE_LEASE_MS as u64) {
            break held;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let n = |k: Count| w.count(k).load(SeqCst);
    let requests = n(Count::Requests);
    let decision_s = n(Count::DecisionNs) as f64 / 1e9;
    let rate = if decision_s > 0.0 {
        requests as f64 / decision_s
    } else {
        0.0
    };
    let refused = n(Count::Refused) + n(Count::Unavailable);
    let name = "engine-slots, 3 proxies, remote, confirm=1";
    let head = [
        "strategy",
        "requests",
        "max on one engine",
        "overcommitted",
        "leaked at end",
        "refused",
        "req/s",
    ];
    let row = [
        name.to_string(),
        requests.to_string(),
        n(Count::MaxRunning).to_string(),
        n(Count::Overcommitted).to_string(),
        leaked.to_string(),
        refused.to_string(),
        if rate >= 1e3 {
            format!("{:.1}k", rate / 1e3)
        } else {
            format!("{rate:.0}")
        },
    ];
    println!();
    let width: Vec<usize> = head
        .iter()
        .zip(&row)
        .map(|(h, r)| h.len().max(r.len()))
        .collect();
    let line = |cols: &[&str]| {
        let mut out = format!("{:<w$}", cols[0], w = width[0]);
        for (c, text) in cols.iter().enumerate().skip(1) {
            out.push_str(&format!("  {text:>w$}", w = width[c]));
        }
        println!("{out}");
    };
    line(&head);
    let rule: Vec<String> = width.iter().map(|&k| "-".repeat(k)).collect();
    line(&rule.iter().map(String::as_str).collect::<Vec<_>>());
    line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    println!();
    say(
        "- ",
        "  ",
        "req/s: placement decisions per second of time spent in reserve (one confirmed round \
         trip each; during the failover a reserve waits up to timeout_ms=1000 for an answer).",
    );
    say(
        "- ",
        "  ",
        &format!(
        "run {:.1} s; primary killed after burst {} and Sentinel promoted a replica {:.1} s later.",
        wall.as_secs_f64(),
        s.bursts / 2,
        promoted_after.as_secs_f64()
    ),
    );
    say(
        "- ",
        "  ",
        &format!(
        "refused {refused}: {} while no engine had room, {} with ES_ERR_IO while the primary was \
         gone or no replica confirmed (never used); {} commits not confirmed (streams stopped).",
        n(Count::Refused),
        n(Count::Unavailable),
        n(Count::CommitFailed)
    ),
    );
    say(
        "- ",
        "  ",
        &format!(
        "{} forgotten tickets and what the failover left were reclaimed by leases ({reclaimed} by \
         the final reclaim_expired ticks); streams still running: {}.",
        n(Count::Forgot),
        w.running()
    ),
    );
    let ok = n(Count::Overcommitted) == 0 && leaked == 0 && n(Count::MaxRunning) <= CAPACITY;
    println!(
        "- {}",
        if ok {
            "never over capacity among confirmed admissions, nothing leaked at the end."
        } else {
            "FAILED: over capacity or leaked (see the table)."
        }
    );
    drop(t);
    drop(c); // stops every server
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ok)
}
