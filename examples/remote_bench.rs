//! Round-trip cost of a remote table: latency (p50/p99) of reserve, commit
//! and release with 16, 256 and 4096 engines (the server's work must not
//! grow with them), one and four client threads, against a local
//! redis-server, and the server's own time per FCALL (INFO commandstats).
//!
//!     cargo run --release --example remote_bench [-- redis://host:port]
//!
//! Without a URL it starts a throw-away redis-server on a free port.

#[path = "../tests/support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use engine_slots::{Config, RemoteTable};
use std::time::{Duration, Instant};

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

/// The server's own time per FCALL since the last reset (µs).
fn server_us(c: &mut redis::Connection) -> f64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_fcall:"))
        .and_then(|l| {
            l.split(',')
                .find_map(|kv| kv.strip_prefix("usec_per_call="))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
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
    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    println!("remote table, least-loaded, {url}");
    println!(
        "{:>8} {:>12} {:>12} {:>12} {:>12} {:>14} {:>16}",
        "engines",
        "reserve p50",
        "reserve p99",
        "commit p50",
        "release p50",
        "cycles/s 1thr",
        "server us/call"
    );
    for engines in [16usize, 256, 4096] {
        let cfg = Config {
            max_engines: 4096,
            max_tickets: 4096,
            default_capacity: 100,
            pending_lease_ms: 30_000,
            active_lease_ms: 0,
            ..Config::default()
        };
        let name = format!("bench{engines}");
        let _ = RemoteTable::unlink(&url, &name);
        let t = RemoteTable::open(&url, &name, Some(&cfg)).unwrap();
        for i in 0..engines {
            t.add_engine(format!("engine-{i}").as_bytes(), 0).unwrap();
        }
        cycles(&t, 500); // warm up
        let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
        let start = Instant::now();
        let mut lat = cycles(&t, CYCLES);
        let took = start.elapsed();
        let us = server_us(&mut c);
        println!(
            "{engines:>8} {:>12.1} {:>12.1} {:>12.1} {:>12.1} {:>14.0} {:>16.1}",
            pct(&mut lat[0], 0.5),
            pct(&mut lat[0], 0.99),
            pct(&mut lat[1], 0.5),
            pct(&mut lat[2], 0.5),
            CYCLES as f64 / took.as_secs_f64(),
            us
        );
        if engines == 16 {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| cycles(&t, CYCLES / 4));
                }
            });
            let four = start.elapsed();
            println!(
                "{:>8} 4 client threads: {:.0} cycles/s ({:.0} calls/s)",
                "",
                CYCLES as f64 / four.as_secs_f64(),
                3.0 * CYCLES as f64 / four.as_secs_f64()
            );
        }
        drop(t);
        RemoteTable::unlink(&url, &name).unwrap();
    }
}
