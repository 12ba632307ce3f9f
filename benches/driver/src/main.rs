//! A plain timing driver: the reserve + commit + release cycle of the public
//! Rust API, the loop `benches/c_cycle.c` runs through the C ABI, and the
//! same cycle of the benchmarks' other designs. Built by `scripts/bench.sh`
//! against this tree and against the commit before the performance work,
//! and run alternately, so both builds meet the same machine in the same
//! minute.
//!
//! ```text
//! driver <contender> <engines> <threads> <cycles per thread> <repeats>
//! ```
//!
//! prints `driver <contender> <engines> <threads> <ns per cycle>`: the best
//! of `repeats` batches (each thread runs its cycles at once, started
//! together; the figure is wall time / all cycles, the inverse of the
//! aggregate throughput). Contenders: `least_loaded`, `fill_first`,
//! `two_choices` (engine-slots tables as in the criterion benchmark:
//! capacity 8, 64-byte keys, leases on, 1024 ticket slots), `ideal` (one
//! mutex over a counter array), `seed`, `floor` (`benches/common`).
//!
//! Under callgrind (`--collect-atstart=no --toggle-collect='*run_cycles*'`)
//! it counts the instructions of exactly the measured loop.

#[path = "../../common/contenders.rs"]
#[allow(dead_code)]
mod contenders;

use contenders::{Floor, Ideal, Ops, Seed, Slots};
use engine_slots::Policy;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::Instant;

/// The measured loop; not inlined so callgrind can count exactly it.
#[inline(never)]
fn run_cycles<C: Ops>(c: &C, n: u64) {
    let mut l = c.local();
    for _ in 0..n {
        let t = c.reserve(&mut l);
        c.commit(&mut l, black_box(t));
        c.release(&mut l, black_box(t));
    }
}

/// Best ns per cycle of `repeats` batches of `cycles` cycles per thread.
fn time<C: Ops>(c: &C, threads: usize, cycles: u64, repeats: u64) -> f64 {
    run_cycles(c, cycles / 10 + 1); // warm-up
    let mut best = f64::MAX;
    for _ in 0..repeats {
        let barrier = Barrier::new(threads);
        let start = std::thread::scope(|s| {
            for _ in 1..threads {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    run_cycles(c, cycles);
                });
            }
            barrier.wait();
            let start = Instant::now();
            run_cycles(c, cycles);
            start
        });
        let ns = start.elapsed().as_nanos() as f64 / (cycles * threads as u64).max(1) as f64;
        best = best.min(ns);
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| -> u64 {
        args.get(i)
            .map(|s| s.parse().expect("a number"))
            .unwrap_or(default)
    };
    let name = args.get(1).map_or("least_loaded", |s| s.as_str());
    let engines = arg(2, 16) as u32;
    let threads = arg(3, 1) as usize;
    let cycles = arg(4, 1_000_000);
    let repeats = arg(5, 5);
    let ns = match name {
        "least_loaded" => time(
            &Slots::new(engines, Policy::LeastLoaded),
            threads,
            cycles,
            repeats,
        ),
        "fill_first" => time(
            &Slots::new(engines, Policy::FillFirst),
            threads,
            cycles,
            repeats,
        ),
        "two_choices" => time(
            &Slots::new(engines, Policy::TwoChoices),
            threads,
            cycles,
            repeats,
        ),
        "ideal" => time(&Ideal::new(engines), threads, cycles, repeats),
        "seed" => time(&Seed::new(engines), threads, cycles, repeats),
        "floor" => time(&Floor::new(engines), threads, cycles, repeats),
        other => panic!("unknown contender {other}"),
    };
    println!("driver {name} {engines} {threads} {ns:.2}");
}
