//! Round-trip cost of a remote table: latency (p50/p99) of reserve, commit
//! and release, one and four client threads, against a local redis-server,
//! and the server's own time per FCALL (INFO commandstats).
//!
//!     cargo run --release --example remote_bench [-- redis://host:port]
//!
//! Without a URL it starts a throw-away redis-server on a free port.

#[path = "../tests/support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use engine_slots::{Config, RemoteTable};
use std::time::{Duration, Instant};

const ENGINES: usize = 16;
const CYCLES: usize = 5_000;

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6
}

/// Reserve/commit/release cycles on `t`; per-op latencies.
fn cycles(t: &RemoteTable, n: usize) -> [Vec<Duration>; 3] {
    let mut lat = [
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    ];
    for _ in 0..n {
        let a = Instant::now();
        let r = t.reserve().unwrap().expect("room");
        let b = Instant::now();
        t.commit(r.ticket).unwrap();
        let c = Instant::now();
        t.release(r.ticket).unwrap();
        let d = Instant::now();
        lat[0].push(b - a);
        lat[1].push(c - b);
        lat[2].push(d - c);
    }
    lat
}

fn main() {
    let server;
    let url = match std::env::args().nth(1) {
        Some(u) => u,
        None => {
            server =
                redis_server::RedisServer::start_or_skip("remote_bench").expect("redis-server");
            server.url()
        }
    };
    let cfg = Config {
        max_engines: 64,
        max_tickets: 4096,
        default_capacity: 100,
        pending_lease_ms: 30_000,
        active_lease_ms: 0,
        ..Config::default()
    };
    let _ = RemoteTable::unlink(&url, "bench");
    let t = RemoteTable::open(&url, "bench", Some(&cfg)).unwrap();
    for i in 0..ENGINES {
        t.add_engine(format!("engine-{i}").as_bytes(), 0).unwrap();
    }
    cycles(&t, 500); // warm up
    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();

    println!("remote table, {ENGINES} engines, least-loaded, {url}");
    println!("{:<10} {:>10} {:>10}", "op (1 thr)", "p50 us", "p99 us");
    let start = Instant::now();
    let mut lat = cycles(&t, CYCLES);
    let one = start.elapsed();
    for (name, v) in ["reserve", "commit", "release"].iter().zip(lat.iter_mut()) {
        println!("{name:<10} {:>10.1} {:>10.1}", pct(v, 0.5), pct(v, 0.99));
    }
    println!(
        "1 thread:  {:.0} cycles/s ({:.0} calls/s)",
        CYCLES as f64 / one.as_secs_f64(),
        3.0 * CYCLES as f64 / one.as_secs_f64()
    );
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| cycles(&t, CYCLES / 4));
        }
    });
    let four = start.elapsed();
    println!(
        "4 threads: {:.0} cycles/s ({:.0} calls/s)",
        CYCLES as f64 / four.as_secs_f64(),
        3.0 * CYCLES as f64 / four.as_secs_f64()
    );
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .unwrap();
    if let Some(line) = info.lines().find(|l| l.starts_with("cmdstat_fcall:")) {
        println!("server side: {line}");
    }
    drop(t);
    RemoteTable::unlink(&url, "bench").unwrap();
}
