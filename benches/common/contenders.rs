//! The designs the benchmarks compare, shared by `benches/cycle.rs`
//! (criterion, ns per cycle) and `benches/contention.rs` (throughput and
//! reserve latency at 1 to 32 threads). Every one places a stream on the
//! least loaded engine with room (or per its policy), commits it and
//! releases it:
//!
//! * [`Slots`] — engine-slots, one [`Table`] per policy, leases on (in a
//!   shared file under `/dev/shm` with `BENCH_SHARED=1`: the crash-safe
//!   protocol of shared tables).
//! * [`Seed`] — the seed's design: one `std::sync::Mutex` over a `HashMap`
//!   from 64-byte container id to pending count plus a `Vec` of engines
//!   with their active counts. Selection looks up every engine's pending
//!   count in the map, as the seed does; commit moves one pending count (by
//!   key) to active; release drops one active count.
//! * [`Ideal`] — the fastest a lock can be with none of our guarantees: one
//!   `Mutex` over a `Vec` of per-engine counters; no keys, no tickets, no
//!   generations, no leases.
//! * [`Floor`] — the raw cost of what a lock-free cycle cannot avoid: one
//!   scan of N `AtomicU64` engine words plus three uncontended
//!   compare-and-swaps (on words private to the thread).

use crossbeam_utils::CachePadded;
use engine_slots::{Config, Policy, Table, Ticket};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Capacity of every engine: with one stream held per thread, every thread
/// always finds room at 16 engines and up to 128 threads.
pub const CAPACITY: u32 = 8;

/// A 64-byte container id, as the seed keys its map.
pub fn container_id(i: u32) -> [u8; 64] {
    let mut id = [b'0'; 64];
    let hex = format!(
        "{:064x}",
        (i as u128 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
    );
    id.copy_from_slice(hex.as_bytes());
    id
}

/// One design's three steps. `Local` is what a thread keeps between calls
/// (only the floor has any); `Token` is what reserve hands to commit and
/// release (a ticket, an engine index).
pub trait Ops: Sync {
    type Local;
    type Token: Copy;
    fn local(&self) -> Self::Local;
    fn reserve(&self, l: &mut Self::Local) -> Self::Token;
    fn commit(&self, l: &mut Self::Local, t: Self::Token);
    fn release(&self, l: &mut Self::Local, t: Self::Token);
}

// ---------------------------------------------------------------- engine-slots

pub struct Slots(pub Table);

impl Slots {
    pub fn new(engines: u32, policy: Policy) -> Slots {
        let cfg = Config {
            max_engines: engines,
            max_tickets: 1024,
            default_capacity: CAPACITY,
            pending_lease_ms: 10_000,
            active_lease_ms: 60_000,
            policy,
        };
        let t = if std::env::var_os("BENCH_SHARED").is_some() {
            let dir = Path::new("/dev/shm");
            let dir = if dir.is_dir() {
                dir.to_path_buf()
            } else {
                std::env::temp_dir()
            };
            let path = dir.join(format!(
                "es-bench-{}-{engines}-{policy:?}",
                std::process::id()
            ));
            let _ = Table::unlink_shared(&path);
            let t = Table::open_shared(&path, Some(&cfg)).expect("shared table");
            // The mapping stays valid after the name is gone.
            Table::unlink_shared(&path).expect("unlink");
            t
        } else {
            Table::new(cfg).expect("valid config")
        };
        for i in 0..engines {
            t.add_engine(&container_id(i), CAPACITY)
                .expect("add engine");
        }
        Slots(t)
    }
}

impl Ops for Slots {
    type Local = ();
    type Token = Ticket;
    fn local(&self) {}
    #[inline]
    fn reserve(&self, _: &mut ()) -> Ticket {
        self.0.reserve().expect("reserve").expect("room").ticket
    }
    #[inline]
    fn commit(&self, _: &mut (), t: Ticket) {
        self.0.commit(t).expect("commit");
    }
    #[inline]
    fn release(&self, _: &mut (), t: Ticket) {
        self.0.release(t).expect("release");
    }
}

// ---------------------------------------------------------------- seed design

struct SeedEngine {
    id: [u8; 64],
    active: u32,
    capacity: u32,
}

struct SeedState {
    /// Picks the orchestrator has not reported yet, by container id.
    pending: HashMap<[u8; 64], u32>,
    engines: Vec<SeedEngine>,
}

pub struct Seed(Mutex<SeedState>);

impl Seed {
    pub fn new(engines: u32) -> Seed {
        Seed(Mutex::new(SeedState {
            pending: HashMap::new(),
            engines: (0..engines)
                .map(|i| SeedEngine {
                    id: container_id(i),
                    active: 0,
                    capacity: CAPACITY,
                })
                .collect(),
        }))
    }
}

impl Ops for Seed {
    type Local = ();
    type Token = usize;
    fn local(&self) {}
    fn reserve(&self, _: &mut ()) -> usize {
        let mut s = self.0.lock().unwrap();
        let SeedState { pending, engines } = &mut *s;
        let mut best: Option<(usize, u32)> = None;
        for (i, e) in engines.iter().enumerate() {
            let load = e.active + pending.get(&e.id).copied().unwrap_or(0);
            if load < e.capacity && best.is_none_or(|(_, b)| load < b) {
                best = Some((i, load));
            }
        }
        let (i, _) = best.expect("room");
        *pending.entry(engines[i].id).or_insert(0) += 1;
        i
    }
    fn commit(&self, _: &mut (), i: usize) {
        let mut s = self.0.lock().unwrap();
        let SeedState { pending, engines } = &mut *s;
        if let Some(p) = pending.get_mut(&engines[i].id) {
            *p = p.saturating_sub(1);
        }
        engines[i].active += 1;
    }
    fn release(&self, _: &mut (), i: usize) {
        let mut s = self.0.lock().unwrap();
        s.engines[i].active -= 1;
    }
}

// ---------------------------------------------------------------- ideal locked

#[derive(Clone, Copy)]
struct Counter {
    active: u32,
    pending: u32,
    capacity: u32,
}

pub struct Ideal(Mutex<Vec<Counter>>);

impl Ideal {
    pub fn new(engines: u32) -> Ideal {
        Ideal(Mutex::new(vec![
            Counter {
                active: 0,
                pending: 0,
                capacity: CAPACITY,
            };
            engines as usize
        ]))
    }
}

impl Ops for Ideal {
    type Local = ();
    type Token = usize;
    fn local(&self) {}
    fn reserve(&self, _: &mut ()) -> usize {
        let mut v = self.0.lock().unwrap();
        let mut best: Option<(usize, u32)> = None;
        for (i, c) in v.iter().enumerate() {
            let load = c.active + c.pending;
            if load < c.capacity && best.is_none_or(|(_, b)| load < b) {
                best = Some((i, load));
            }
        }
        let (i, _) = best.expect("room");
        v[i].pending += 1;
        i
    }
    fn commit(&self, _: &mut (), i: usize) {
        let mut v = self.0.lock().unwrap();
        v[i].pending -= 1;
        v[i].active += 1;
    }
    fn release(&self, _: &mut (), i: usize) {
        self.0.lock().unwrap()[i].active -= 1;
    }
}

// ---------------------------------------------------------------- floor

pub struct Floor {
    /// The engine words every thread scans (never written during the run).
    words: Vec<AtomicU64>,
}

/// A thread's three private words, on their own cache line, and the values
/// it expects in them.
pub struct FloorLocal {
    own: Box<CachePadded<[AtomicU64; 3]>>,
    expect: [u64; 3],
}

impl Floor {
    pub fn new(engines: u32) -> Floor {
        Floor {
            words: (0..engines)
                .map(|i| AtomicU64::new(CAPACITY as u64 | ((i as u64 & 3) << 22)))
                .collect(),
        }
    }

    #[inline]
    fn cas(l: &mut FloorLocal, k: usize) {
        let e = l.expect[k];
        let r = l.own[k].compare_exchange(e, e + 1, Ordering::AcqRel, Ordering::Relaxed);
        debug_assert!(r.is_ok());
        l.expect[k] = e + 1;
    }
}

impl Ops for Floor {
    type Local = FloorLocal;
    type Token = usize;
    fn local(&self) -> FloorLocal {
        FloorLocal {
            own: Box::new(CachePadded::new([
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
            ])),
            expect: [0; 3],
        }
    }
    #[inline]
    fn reserve(&self, l: &mut FloorLocal) -> usize {
        // One scan: the least loaded word.
        let mut best = (u64::MAX, 0usize);
        for (i, w) in self.words.iter().enumerate() {
            let load = (w.load(Ordering::Relaxed) >> 11) & 0x3F_FFFF;
            if load < best.0 {
                best = (load, i);
            }
        }
        // Three uncontended CASes: admission, commit, release.
        Floor::cas(l, 0);
        best.1
    }
    #[inline]
    fn commit(&self, l: &mut FloorLocal, _: usize) {
        Floor::cas(l, 1);
    }
    #[inline]
    fn release(&self, l: &mut FloorLocal, _: usize) {
        Floor::cas(l, 2);
    }
}
