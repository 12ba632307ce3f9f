//! Loom models of every protocol (`RUSTFLAGS="--cfg loom"`, see
//! `scripts/loom.sh`). Each model builds a tiny table, races 2-3 threads
//! through one protocol, and asserts the invariant, not just "no panic".
//!
//! The clock is a [`ManualClock`] outside loom's view: loom runs one thread
//! at a time, so a clock move lands at a well-defined point of each explored
//! schedule, which is exactly the "lease runs out in the middle" we want.

pub(super) use crate::{Config, Engine, Error, ManualClock, Policy, Table, Ticket};
pub(super) use loom::sync::Arc;
pub(super) use loom::thread;
pub(super) use std::time::Duration;

mod admission;
mod expiry;
mod external;
mod free_slots;
mod intent;
mod removal;
mod sweep;
mod sweep_lease;

pub(super) fn config(engines: u32, tickets: u32, pending_ms: u32, active_ms: u32) -> Config {
    Config {
        max_engines: engines,
        max_tickets: tickets,
        default_capacity: 1,
        pending_lease_ms: pending_ms,
        active_lease_ms: active_ms,
        policy: Policy::LeastLoaded,
    }
}

pub(super) fn counts(t: &Table, e: Engine) -> (u32, u32, u64) {
    let s = t.engine_stats(e).unwrap();
    (s.active, s.pending, s.expired_total)
}

/// Runs `f` under loom with a preemption bound of `preemptions`, or the
/// environment's `LOOM_MAX_PREEMPTIONS` if that is larger: the environment
/// can deepen a run (`make soak`), never make a critical model shallower
/// than it asks for.
pub(super) fn run_model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    let env = std::env::var("LOOM_MAX_PREEMPTIONS")
        .ok()
        .and_then(|v| v.parse().ok());
    b.preemption_bound = Some(env.map_or(preemptions, |e: usize| e.max(preemptions)));
    b.check(f);
}
