//! A plain timing driver: the reserve + commit + release cycle of the public
//! Rust API, the loop `benches/c_cycle.c` runs through the C ABI. Built by
//! `scripts/bench.sh` against this tree and against the commit before the
//! performance work, and run alternately, so both builds meet the same
//! machine in the same minute.
//!
//! ```text
//! driver <policy> <engines> <threads> <cycles per thread> <repeats>
//! ```
//!
//! prints `driver <policy> <engines> <threads> <ns per cycle>`: the best of
//! `repeats` batches (each thread runs its cycles at once, started together;
//! the figure is wall time / all cycles, the inverse of the aggregate
//! throughput). Policies: `least_loaded`, `fill_first`, `two_choices`.
//! Tables as in the criterion benchmark: capacity 8, 64-byte keys, leases
//! on, 1024 ticket slots.
//!
//! Under callgrind (`--collect-atstart=no --toggle-collect='*run_cycles*'`)
//! it counts the instructions of exactly the measured loop.

use engine_slots::{Config, Policy, Table};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::Instant;

const CAPACITY: u32 = 8;

/// A 64-byte container id (the same bytes as `benches/c_cycle.c` uses).
fn container_id(i: u32) -> [u8; 64] {
    let mut id = [0u8; 64];
    id.copy_from_slice(format!("{:064x}", i + 1).as_bytes());
    id
}

/// The measured loop; not inlined so callgrind can count exactly it.
#[inline(never)]
fn run_cycles(t: &Table, n: u64) {
    for _ in 0..n {
        let r = t.reserve().expect("reserve").expect("room");
        t.commit(black_box(r.ticket)).expect("commit");
        t.release(black_box(r.ticket)).expect("release");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| -> u64 {
        args.get(i)
            .map(|s| s.parse().expect("a number"))
            .unwrap_or(default)
    };
    let policy_name = args.get(1).map_or("least_loaded", |s| s.as_str());
    let policy = match policy_name {
        "least_loaded" => Policy::LeastLoaded,
        "fill_first" => Policy::FillFirst,
        "two_choices" => Policy::TwoChoices,
        other => panic!("unknown policy {other}"),
    };
    let engines = arg(2, 16) as u32;
    let threads = arg(3, 1) as usize;
    let cycles = arg(4, 1_000_000);
    let repeats = arg(5, 5);

    let t = Table::new(Config {
        max_engines: engines,
        max_tickets: 1024,
        default_capacity: CAPACITY,
        pending_lease_ms: 10_000,
        active_lease_ms: 60_000,
        policy,
    })
    .expect("valid config");
    for i in 0..engines {
        t.add_engine(&container_id(i), CAPACITY)
            .expect("add engine");
    }
    run_cycles(&t, cycles / 10 + 1); // warm-up
    let mut best = f64::MAX;
    for _ in 0..repeats {
        let barrier = Barrier::new(threads);
        let start = std::thread::scope(|s| {
            for _ in 1..threads {
                let (t, barrier) = (&t, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    run_cycles(t, cycles);
                });
            }
            barrier.wait();
            let start = Instant::now();
            run_cycles(&t, cycles);
            start
        });
        let ns = start.elapsed().as_nanos() as f64 / (cycles * threads as u64).max(1) as f64;
        best = best.min(ns);
    }
    println!("driver {policy_name} {engines} {threads} {best:.2}");
}
