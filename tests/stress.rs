//! Multi-threaded stress: 4 threads, random operations, and an independent
//! shadow count per engine kept by the test itself.
//!
//! A thread adds 1 to an engine's shadow count after its reservation
//! succeeds and subtracts 1 before it cancels or releases, so the shadow is
//! the number of threads that believe they hold a slot there. It must never
//! exceed the engine's capacity, and every count must be back to zero once
//! the threads stop. Bounded in time, not in iterations.

use engine_slots::{Config, Error, Policy, Table, Ticket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const THREADS: usize = 4;
const RUN: Duration = Duration::from_millis(1500);

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn hammer(policy: Policy) {
    let caps = [1u32, 2, 3, 2, 1, 4];
    let t = Table::new(Config {
        max_engines: caps.len() as u32,
        max_tickets: 64,
        default_capacity: 1,
        pending_lease_ms: 0,
        active_lease_ms: 0,
        policy,
    })
    .unwrap();
    let engines: Vec<_> = caps
        .iter()
        .enumerate()
        .map(|(i, &c)| t.add_engine(format!("e{i}").as_bytes(), c).unwrap())
        .collect();
    let shadow: Vec<AtomicU32> = caps.iter().map(|_| AtomicU32::new(0)).collect();
    let max_seen: Vec<AtomicU32> = caps.iter().map(|_| AtomicU32::new(0)).collect();
    let admitted = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for id in 0..THREADS {
            let (t, engines, shadow, max_seen, admitted, stop) =
                (&t, &engines, &shadow, &max_seen, &admitted, &stop);
            s.spawn(move || {
                let mut rng = Rng(0x9E37_79B9 ^ ((id as u64 + 1) * 0x1234_5678_9abc));
                let mut held: Vec<(Ticket, usize, bool)> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let r = rng.next();
                    if held.len() < 4 && r % 3 != 0 {
                        let res = if r % 5 == 0 {
                            t.reserve_on(engines[(r >> 8) as usize % engines.len()])
                        } else {
                            t.reserve()
                        };
                        if let Some(res) = res.unwrap() {
                            let i = engines.iter().position(|&e| e == res.engine).unwrap();
                            let now = shadow[i].fetch_add(1, Ordering::SeqCst) + 1;
                            assert!(
                                now <= caps[i],
                                "engine {i}: {now} holders, capacity {}",
                                caps[i]
                            );
                            max_seen[i].fetch_max(now, Ordering::Relaxed);
                            admitted.fetch_add(1, Ordering::Relaxed);
                            held.push((res.ticket, i, false));
                        }
                    } else if !held.is_empty() {
                        let k = (r >> 16) as usize % held.len();
                        let (tk, i, committed) = held[k];
                        if !committed && r % 4 != 0 {
                            t.commit(tk).unwrap();
                            held[k].2 = true;
                            assert_eq!(t.commit(tk), Err(Error::Stale));
                        } else {
                            held.swap_remove(k);
                            shadow[i].fetch_sub(1, Ordering::SeqCst);
                            if committed {
                                t.touch(tk).unwrap();
                                t.release(tk).unwrap();
                                assert_eq!(t.release(tk), Err(Error::Stale));
                            } else {
                                t.cancel(tk).unwrap();
                                assert_eq!(t.cancel(tk), Err(Error::Stale));
                            }
                        }
                    }
                }
                for (tk, i, committed) in held {
                    shadow[i].fetch_sub(1, Ordering::SeqCst);
                    if committed {
                        t.release(tk).unwrap()
                    } else {
                        t.cancel(tk).unwrap()
                    }
                }
            });
        }
        std::thread::sleep(RUN);
        stop.store(true, Ordering::Relaxed);
    });
    for (i, e) in engines.iter().enumerate() {
        let s = t.engine_stats(*e).unwrap();
        assert_eq!((s.active, s.pending), (0, 0), "engine {i} not back to zero");
        assert_eq!(shadow[i].load(Ordering::Relaxed), 0);
        assert!(max_seen[i].load(Ordering::Relaxed) <= caps[i]);
    }
    assert_eq!(t.ticket_counts().free, 64);
    let total: u64 = t.snapshot().iter().map(|s| s.reserved_total).sum();
    assert_eq!(total, admitted.load(Ordering::Relaxed));
    assert!(
        total > 1000,
        "the threads made progress ({total} admissions)"
    );
}

#[test]
fn stress_least_loaded() {
    hammer(Policy::LeastLoaded);
}

#[test]
fn stress_fill_first() {
    hammer(Policy::FillFirst);
}

#[test]
fn stress_two_choices() {
    hammer(Policy::TwoChoices);
}

/// Chaos: leases, forgotten tickets, engine removal and re-adding, capacity
/// and external changes, all at once. Checks that every operation returns a
/// sensible status and that after the storm, with every lease run out, a
/// reclaim brings every count back to zero.
#[test]
fn chaos_with_leases_and_churn() {
    let t = Table::new(Config {
        max_engines: 4,
        max_tickets: 32,
        default_capacity: 3,
        pending_lease_ms: 20,
        active_lease_ms: 30,
        policy: Policy::LeastLoaded,
    })
    .unwrap();
    for i in 0..4 {
        t.add_engine(format!("e{i}").as_bytes(), 0).unwrap();
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for id in 0..THREADS {
            let (t, stop) = (&t, &stop);
            s.spawn(move || {
                let mut rng = Rng(0xC0FFEE ^ ((id as u64 + 7) * 0x9E37_79B9_7F4A_7C15));
                let mut held: Vec<Ticket> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let r = rng.next();
                    match r % 16 {
                        0 if id == 0 => {
                            let key = format!("e{}", (r >> 8) % 4);
                            if let Ok(e) = t.find_engine(key.as_bytes()) {
                                let _ = t.remove_engine(e);
                            }
                            let _ = t.add_engine(key.as_bytes(), 0);
                        }
                        1 => {
                            if let Some(s) = t.snapshot().first() {
                                let _ = t.set_capacity(s.engine, 1 + (r >> 9) as u32 % 4);
                                let _ = t.set_external(s.engine, (r >> 12) as u32 % 2);
                            }
                        }
                        2..=7 => {
                            if let Ok(Some(res)) = t.reserve() {
                                held.push(res.ticket);
                            }
                        }
                        _ if !held.is_empty() => {
                            let k = (r >> 20) as usize % held.len();
                            let tk = held[k];
                            let res = match r % 5 {
                                0 => t.commit(tk),
                                1 => t.touch(tk),
                                2 => t.cancel(tk),
                                3 => t.release(tk),
                                _ => {
                                    // Forget it: the lease must win it back.
                                    held.swap_remove(k);
                                    Ok(())
                                }
                            };
                            assert!(matches!(res, Ok(()) | Err(Error::Stale)), "{res:?}");
                            if res.is_err() && r % 2 == 0 {
                                held.swap_remove(k);
                            }
                        }
                        _ => std::hint::spin_loop(),
                    }
                }
            });
        }
        std::thread::sleep(RUN);
        stop.store(true, Ordering::Relaxed);
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        t.reclaim_expired();
        let c = t.ticket_counts();
        let busy: u32 = t.snapshot().iter().map(|s| s.active + s.pending).sum();
        if c.free == 32 && busy == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not back to zero: {c:?}, {busy} counted"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
