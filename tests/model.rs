//! Property test: random operation sequences against a plain sequential
//! model of the contract's semantics (docs/CONTRACT.md), compared result by
//! result and count by count.
//!
//! The model is deliberately naive (vectors and a hash map, no atomics), so a
//! disagreement points at the table. The same sequences run against every
//! backend: in-process, shared (a file) and remote (Redis, with its
//! server-side test clock).

mod support;

use engine_slots::{Config, Engine, Error, Policy, Ticket};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::OnceLock;
use support::backends::{Backend, Kind, Slots};

#[derive(Clone, Debug)]
enum Op {
    Add(u8, u32),
    Find(u8),
    Remove(usize),
    SetCapacity(usize, u32),
    SetHealthy(usize, bool),
    SetPriority(usize, i32),
    SetExternal(usize, u32),
    Drain(usize),
    Undrain(usize),
    Reserve,
    ReserveOn(usize),
    Commit(usize),
    Cancel(usize),
    Release(usize),
    Touch(usize),
    Reclaim,
    Advance(u64),
    JumpBack(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..6, prop_oneof![4 => 0u32..5, 1 => Just(5000u32)]).prop_map(|(k, c)| Op::Add(k, c)),
        1 => (0u8..7).prop_map(Op::Find),
        1 => any::<usize>().prop_map(Op::Remove),
        1 => (any::<usize>(), 0u32..5).prop_map(|(e, c)| Op::SetCapacity(e, c)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(e, h)| Op::SetHealthy(e, h)),
        1 => (any::<usize>(), -2i32..3).prop_map(|(e, p)| Op::SetPriority(e, p)),
        1 => (any::<usize>(), prop_oneof![0u32..4, Just(100_000u32)]).prop_map(|(e, n)| Op::SetExternal(e, n)),
        1 => any::<usize>().prop_map(Op::Drain),
        1 => any::<usize>().prop_map(Op::Undrain),
        6 => Just(Op::Reserve),
        2 => any::<usize>().prop_map(Op::ReserveOn),
        4 => any::<usize>().prop_map(Op::Commit),
        2 => any::<usize>().prop_map(Op::Cancel),
        3 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::Touch),
        1 => Just(Op::Reclaim),
        3 => (0u64..120).prop_map(Op::Advance),
        1 => (0u64..200).prop_map(Op::JumpBack),
    ]
}

#[derive(Clone, Debug)]
struct MEngine {
    handle: Engine,
    key: u8,
    cap: u32,
    active: u32,
    pending: u32,
    external: u32,
    healthy: bool,
    draining: bool,
    priority: i32,
    last_ns: u64,
    reserved_total: u64,
    expired_total: u64,
}

impl MEngine {
    fn load(&self) -> u64 {
        (self.active + self.pending + self.external.min(2047)) as u64
    }
    fn has_room(&self) -> bool {
        !self.draining && self.load() < self.cap as u64
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum MState {
    Pending,
    Active,
}

#[derive(Clone, Debug)]
struct MTicket {
    state: MState,
    slot: usize,
    engine: Engine,
    deadline_ms: u64,
}

struct Model {
    cfg: Config,
    slots: Vec<Option<MEngine>>,
    tickets: HashMap<u64, MTicket>,
    now_ns: u64,
}

impl Model {
    fn now_ms(&self) -> u64 {
        self.now_ns / 1_000_000
    }
    fn lookup(&self, e: Engine) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|m| m.handle == e))
    }
    fn lease(&self, s: MState) -> u64 {
        match s {
            MState::Pending => self.cfg.pending_lease_ms as u64,
            MState::Active => self.cfg.active_lease_ms as u64,
        }
    }
    fn over(&self, t: &MTicket) -> bool {
        let lease = self.lease(t.state);
        lease != 0 && self.now_ms() >= t.deadline_ms
    }
    /// Ends ticket `raw`, moving its engine's count if the engine is the same.
    fn end(&mut self, raw: u64, expired: bool) -> bool {
        let t = self.tickets.remove(&raw).unwrap();
        match self.slots[t.slot].as_mut() {
            Some(m) if m.handle == t.engine => {
                match t.state {
                    MState::Pending => m.pending -= 1,
                    MState::Active => m.active -= 1,
                }
                if expired {
                    m.expired_total += 1;
                }
                true
            }
            _ => false,
        }
    }
    fn reclaim(&mut self) -> u32 {
        let expired: Vec<u64> = self
            .tickets
            .iter()
            .filter(|(_, t)| self.over(t))
            .map(|(r, _)| *r)
            .collect();
        for r in &expired {
            self.end(*r, true);
        }
        expired.len() as u32
    }
    /// The engine slots the policy may pick: fill first's one, least
    /// loaded's equally best ones, or (two choices) any with room.
    fn choose(&self) -> Vec<usize> {
        let room: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].as_ref().is_some_and(|m| m.has_room()))
            .collect();
        if room.is_empty() {
            return room;
        }
        let m = |i: usize| self.slots[i].as_ref().unwrap();
        let least_loaded = |a: usize, b: usize| {
            let (x, y) = (m(a), m(b));
            y.healthy
                .cmp(&x.healthy)
                .then((x.load() * y.cap as u64).cmp(&(y.load() * x.cap as u64)))
                .then(y.priority.cmp(&x.priority))
                .then(x.last_ns.cmp(&y.last_ns))
        };
        let best = match self.cfg.policy {
            Policy::TwoChoices => return room,
            // The contract's last tie-break is "any of the engines still
            // equal": every one of them is allowed.
            Policy::LeastLoaded => {
                let first = *room.iter().min_by(|&&a, &&b| least_loaded(a, b)).unwrap();
                return room
                    .into_iter()
                    .filter(|&i| least_loaded(i, first).is_eq())
                    .collect();
            }
            Policy::FillFirst => *room
                .iter()
                .min_by(|&&a, &&b| {
                    let (x, y) = (m(a), m(b));
                    y.healthy
                        .cmp(&x.healthy)
                        .then((y.load() * x.cap as u64).cmp(&(x.load() * y.cap as u64)))
                        .then(y.priority.cmp(&x.priority))
                        .then(a.cmp(&b))
                })
                .unwrap(),
        };
        vec![best]
    }
}

struct Harness {
    table: Box<dyn Slots>,
    model: Model,
    engines: Vec<Engine>,
    tickets: Vec<Ticket>,
}

impl Harness {
    fn engine(&self, i: usize) -> Engine {
        // Mostly handles we were given (live or stale); sometimes garbage.
        if self.engines.is_empty() || i % 11 == 0 {
            Engine::from_raw(i as u64 ^ 0x0E5E_0000_0000_0000)
        } else {
            self.engines[i % self.engines.len()]
        }
    }
    fn ticket(&self, i: usize) -> Ticket {
        if self.tickets.is_empty() || i % 13 == 0 {
            Ticket::from_raw(i as u64)
        } else {
            self.tickets[i % self.tickets.len()]
        }
    }

    fn engine_op(
        &mut self,
        e: Engine,
        f: impl FnOnce(&mut MEngine) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match self.model.lookup(e) {
            Some(i) => f(self.model.slots[i].as_mut().unwrap()),
            None => Err(Error::Stale),
        }
    }

    fn ticket_op(&mut self, t: Ticket, want: MState) -> Result<MTicket, Error> {
        let Some(mt) = self.model.tickets.get(&t.raw()).cloned() else {
            return Err(Error::Stale);
        };
        if mt.state != want {
            return Err(Error::Stale);
        }
        if self.model.over(&mt) {
            self.model.end(t.raw(), true);
            return Err(Error::Stale);
        }
        Ok(mt)
    }

    fn reserve_model(&mut self, target: Option<Engine>) -> Result<Option<Vec<usize>>, Error> {
        if let Some(e) = target {
            self.model.lookup(e).ok_or(Error::Stale)?;
        }
        let max = self.model.cfg.max_tickets as usize;
        if self.model.tickets.len() >= max {
            self.model.reclaim();
            if self.model.tickets.len() >= max {
                return Err(Error::TableFull);
            }
        }
        let mut reclaimed = false;
        loop {
            let choice = match target {
                Some(e) => {
                    let i = self.model.lookup(e).unwrap();
                    if self.model.slots[i].as_ref().unwrap().has_room() {
                        vec![i]
                    } else {
                        vec![]
                    }
                }
                None => self.model.choose(),
            };
            if choice.is_empty() {
                if !reclaimed && self.model.reclaim() > 0 {
                    reclaimed = true;
                    continue;
                }
                return Ok(None);
            }
            return Ok(Some(choice));
        }
    }

    fn step(&mut self, op: &Op) {
        let t = &*self.table;
        match op.clone() {
            Op::Add(k, cap) => {
                let got = t.add_engine(&[b'k', k], cap);
                let cap = if cap == 0 {
                    self.model.cfg.default_capacity
                } else {
                    cap
                };
                let exists = self.model.slots.iter().flatten().any(|m| m.key == k);
                let free = self.model.slots.iter().position(|s| s.is_none());
                let want = if cap > 2047 {
                    Err(Error::Invalid)
                } else if exists {
                    Err(Error::Exists)
                } else if free.is_none() {
                    Err(Error::TableFull)
                } else {
                    Ok(())
                };
                assert_eq!(got.map(drop), want, "{op:?}");
                if let Ok(h) = got {
                    self.engines.push(h);
                    self.model.slots[free.unwrap()] = Some(MEngine {
                        handle: h,
                        key: k,
                        cap,
                        active: 0,
                        pending: 0,
                        external: 0,
                        healthy: true,
                        draining: false,
                        priority: 0,
                        last_ns: 0,
                        reserved_total: 0,
                        expired_total: 0,
                    });
                }
            }
            Op::Find(k) => {
                let want = self
                    .model
                    .slots
                    .iter()
                    .flatten()
                    .find(|m| m.key == k)
                    .map(|m| m.handle);
                assert_eq!(t.find_engine(&[b'k', k]).ok(), want);
            }
            Op::Remove(i) => {
                let e = self.engine(i);
                let got = self.table.remove_engine(e);
                let want = match self.model.lookup(e) {
                    Some(s) => {
                        self.model.slots[s] = None;
                        Ok(())
                    }
                    None => Err(Error::Stale),
                };
                assert_eq!(got, want);
            }
            Op::SetCapacity(i, c) => {
                let e = self.engine(i);
                let got = self.table.set_capacity(e, c);
                let want = self.engine_op(e, |m| {
                    if c == 0 {
                        return Err(Error::Invalid);
                    }
                    m.cap = c;
                    Ok(())
                });
                assert_eq!(got, want);
            }
            Op::SetHealthy(i, h) => {
                let e = self.engine(i);
                let got = self.table.set_healthy(e, h);
                assert_eq!(
                    got,
                    self.engine_op(e, |m| {
                        m.healthy = h;
                        Ok(())
                    })
                );
            }
            Op::SetPriority(i, p) => {
                let e = self.engine(i);
                let got = self.table.set_priority(e, p);
                assert_eq!(
                    got,
                    self.engine_op(e, |m| {
                        m.priority = p;
                        Ok(())
                    })
                );
            }
            Op::SetExternal(i, n) => {
                let e = self.engine(i);
                let got = self.table.set_external(e, n);
                assert_eq!(
                    got,
                    self.engine_op(e, |m| {
                        m.external = n;
                        Ok(())
                    })
                );
            }
            Op::Drain(i) => {
                let e = self.engine(i);
                let got = self.table.drain(e);
                assert_eq!(
                    got,
                    self.engine_op(e, |m| {
                        m.draining = true;
                        Ok(())
                    })
                );
            }
            Op::Undrain(i) => {
                let e = self.engine(i);
                let got = self.table.undrain(e);
                assert_eq!(
                    got,
                    self.engine_op(e, |m| {
                        m.draining = false;
                        Ok(())
                    })
                );
            }
            Op::Reserve | Op::ReserveOn(_) => {
                let target = match op {
                    Op::ReserveOn(i) => Some(self.engine(*i)),
                    _ => None,
                };
                let got = match target {
                    Some(e) => self.table.reserve_on(e),
                    None => self.table.reserve(),
                };
                let want = self.reserve_model(target);
                match (got, want) {
                    (Ok(Some(r)), Ok(Some(allowed))) => {
                        let slot = self
                            .model
                            .lookup(r.engine)
                            .expect("reserved on a live engine");
                        assert!(
                            allowed.contains(&slot),
                            "{op:?}: picked slot {slot}, model allows {allowed:?}"
                        );
                        let now = self.model.now_ns;
                        let lease = self.model.cfg.pending_lease_ms as u64;
                        let m = self.model.slots[slot].as_mut().unwrap();
                        m.pending += 1;
                        m.reserved_total += 1;
                        m.last_ns = now;
                        self.model.tickets.insert(
                            r.ticket.raw(),
                            MTicket {
                                state: MState::Pending,
                                slot,
                                engine: r.engine,
                                deadline_ms: now / 1_000_000 + lease,
                            },
                        );
                        self.tickets.push(r.ticket);
                    }
                    (got, want) => assert_eq!(
                        got.map(|o| o.is_some()),
                        want.map(|o| o.is_some()),
                        "{op:?}"
                    ),
                }
            }
            Op::Commit(i) => {
                let tk = self.ticket(i);
                let got = self.table.commit(tk);
                let want = self.ticket_op(tk, MState::Pending).and_then(|mt| {
                    let now_ms = self.model.now_ms();
                    let lease = self.model.cfg.active_lease_ms as u64;
                    match self.model.slots[mt.slot].as_mut() {
                        Some(m) if m.handle == mt.engine => {
                            m.pending -= 1;
                            m.active += 1;
                            let t = self.model.tickets.get_mut(&tk.raw()).unwrap();
                            t.state = MState::Active;
                            t.deadline_ms = now_ms + lease;
                            Ok(())
                        }
                        _ => {
                            self.model.tickets.remove(&tk.raw());
                            Err(Error::Stale)
                        }
                    }
                });
                assert_eq!(got, want, "{op:?}");
            }
            Op::Cancel(i) | Op::Release(i) => {
                let tk = self.ticket(i);
                let is_cancel = matches!(op, Op::Cancel(_));
                let got = if is_cancel {
                    self.table.cancel(tk)
                } else {
                    self.table.release(tk)
                };
                let want_state = if is_cancel {
                    MState::Pending
                } else {
                    MState::Active
                };
                let want = self.ticket_op(tk, want_state).map(|_| {
                    self.model.end(tk.raw(), false);
                });
                assert_eq!(got, want, "{op:?}");
            }
            Op::Touch(i) => {
                let tk = self.ticket(i);
                let got = self.table.touch(tk);
                let now_ms = self.model.now_ms();
                let lease = self.model.cfg.active_lease_ms as u64;
                // A ticket of a removed engine can only be finished.
                let orphan = self.model.tickets.get(&tk.raw()).is_some_and(|t| {
                    t.state == MState::Active
                        && self.model.slots[t.slot]
                            .as_ref()
                            .is_none_or(|m| m.handle != t.engine)
                });
                let want = if orphan {
                    Err(Error::Stale)
                } else {
                    self.ticket_op(tk, MState::Active).map(|_| {
                        let t = self.model.tickets.get_mut(&tk.raw()).unwrap();
                        t.deadline_ms = t.deadline_ms.max(now_ms + lease);
                    })
                };
                assert_eq!(got, want, "{op:?}");
            }
            Op::Reclaim => {
                let got = self.table.reclaim_expired();
                assert_eq!(got, self.model.reclaim());
            }
            Op::Advance(ms) => {
                self.model.now_ns += ms * 1_000_000;
                self.table.set_clock_ms(self.model.now_ms());
            }
            Op::JumpBack(ms) => {
                // The monotonic clock never goes back, but a table must not
                // misbehave if a test clock (or a restored snapshot) does.
                self.model.now_ns = (self.model.now_ms() - ms) * 1_000_000;
                self.table.set_clock_ms(self.model.now_ms());
            }
        }
        self.check();
    }

    fn check(&self) {
        let snap = self.table.snapshot();
        let live: Vec<&MEngine> = self.model.slots.iter().flatten().collect();
        assert_eq!(snap.len(), live.len());
        for (s, m) in snap.iter().zip(live) {
            assert_eq!(s.engine, m.handle);
            assert_eq!(s.key(), &[b'k', m.key]);
            let got = (
                s.capacity, s.active, s.pending, s.external, s.priority, s.healthy, s.draining,
            );
            let want = (
                m.cap, m.active, m.pending, m.external, m.priority, m.healthy, m.draining,
            );
            assert_eq!(got, want, "engine {:?}", s.key_lossy());
            assert_eq!(
                (s.reserved_total, s.expired_total),
                (m.reserved_total, m.expired_total)
            );
        }
        let c = self.table.ticket_counts();
        assert_eq!((c.pending + c.active) as usize, self.model.tickets.len());
    }
}

fn config() -> impl Strategy<Value = Config> {
    (
        1u32..5,
        1u32..9,
        1u32..4,
        prop_oneof![Just(0u32), Just(50), Just(100)],
        prop_oneof![Just(0u32), Just(80)],
        prop_oneof![
            Just(Policy::LeastLoaded),
            Just(Policy::FillFirst),
            Just(Policy::TwoChoices)
        ],
    )
        .prop_map(|(e, t, c, p, a, policy)| Config {
            max_engines: e,
            max_tickets: t,
            default_capacity: c,
            pending_lease_ms: p,
            active_lease_ms: a,
            policy,
        })
}

/// Runs one sequence against a fresh table of backend `b`.
fn run(b: &Backend, cfg: Config, ops: &[Op]) {
    // Start far from zero so backward clock jumps stay meaningful.
    let start_ms = 2_000_000_000;
    let table = b.table_at(cfg, start_ms);
    let model = Model {
        cfg,
        slots: vec![None; cfg.max_engines as usize],
        tickets: HashMap::new(),
        now_ns: start_ms * 1_000_000,
    };
    let mut h = Harness {
        table,
        model,
        engines: vec![],
        tickets: vec![],
    };
    for op in ops {
        h.step(op);
    }
}

/// One backend per kind for all the cases of a test (a remote one starts
/// its server once).
fn backend(kind: Kind) -> Option<&'static Backend> {
    static LOCAL: OnceLock<Option<Backend>> = OnceLock::new();
    static SHARED: OnceLock<Option<Backend>> = OnceLock::new();
    static REMOTE: OnceLock<Option<Backend>> = OnceLock::new();
    let cell = match kind {
        Kind::Local => &LOCAL,
        Kind::Shared => &SHARED,
        Kind::Remote => &REMOTE,
    };
    cell.get_or_init(|| Backend::new(kind, &format!("model-{kind:?}")))
        .as_ref()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn table_matches_model(cfg in config(), ops in proptest::collection::vec(op(), 1..120)) {
        run(backend(Kind::Local).unwrap(), cfg, &ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn shared_table_matches_model(cfg in config(), ops in proptest::collection::vec(op(), 1..120)) {
        run(backend(Kind::Shared).unwrap(), cfg, &ops);
    }

    #[test]
    fn remote_table_matches_model(cfg in config(), ops in proptest::collection::vec(op(), 1..120)) {
        if let Some(b) = backend(Kind::Remote) {
            run(b, cfg, &ops);
        }
    }
}
