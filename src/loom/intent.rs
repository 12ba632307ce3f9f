//! Crash-safe steps (`crate::table::intent`): an operator that dies at any
//! step, with another operator working on the same engine and the holder
//! scan recovering the dead one's step while it does.
//!
//! A model thread "dies" by unwinding at its n-th crash point
//! (`intent::crash_after`); its death is observed (joined) before the scan
//! treats it as gone, as a real scan observes a real death through the
//! kernel. Each model runs once per crash point, plus once without a death.

use super::{config, run_model};
use crate::table::intent::{act_as, crash_after, Crashed};
use crate::{Clock, Error, Table};
use loom::sync::Arc;
use loom::thread;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// Runs `f`; `true` if it ran to the end, `false` if it died.
fn survives(f: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => true,
        Err(p) if p.is::<Crashed>() => false,
        Err(p) => resume_unwind(p),
    }
}

fn table(tickets: u32, pending_ms: u32) -> Arc<Table> {
    let t = Table::crash_safe_for_loom(config(1, tickets, pending_ms, 0), Clock::default());
    Arc::new(t.unwrap())
}

/// Every count and slot is back: nothing pending, active or in flight.
fn all_back(t: &Table) {
    let s = &t.snapshot()[0];
    assert_eq!((s.active, s.pending), (0, 0), "engine counts left");
    let c = t.ticket_counts();
    assert_eq!((c.pending, c.active, c.in_flight), (0, 0, 0), "slots left");
}

/// The step operator 1 dies in.
#[derive(Clone, Copy)]
enum Step {
    Reserve,
    Commit,
    Release,
}

/// A table with one engine of capacity 2, and operator 1's ticket in the
/// state `step` starts from.
fn setup(step: Step) -> (Arc<Table>, Option<crate::Ticket>) {
    let t = table(3, 0);
    t.add_engine(b"e", 2).unwrap();
    act_as(1);
    let pre = match step {
        Step::Reserve => None,
        Step::Commit => Some(t.reserve().unwrap().unwrap().ticket),
        Step::Release => {
            let r = t.reserve().unwrap().unwrap();
            t.commit(r.ticket).unwrap();
            Some(r.ticket)
        }
    };
    (t, pre)
}

/// Operator 1 runs `step`, dying at its `k`-th crash point; `true` if it
/// lived (`k` is past the last one).
fn run_dying(t: &Arc<Table>, step: Step, pre: Option<crate::Ticket>, k: u32) -> bool {
    act_as(1);
    crash_after(k);
    let lived = survives(|| match step {
        Step::Reserve => drop(t.reserve().unwrap().expect("room")),
        Step::Commit => t.commit(pre.unwrap()).unwrap(),
        Step::Release => t.release(pre.unwrap()).unwrap(),
    });
    crash_after(0);
    lived
}

/// Operator 2 reserves on the same engine (meeting, and completing, any
/// descriptor of operator 1) and gives its ticket back.
fn other(t: Arc<Table>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        act_as(2);
        if let Some(r) = t.reserve().unwrap() {
            t.cancel(r.ticket).unwrap();
        }
    })
}

/// The holder scan of operator 3, once operator 1 is known dead.
fn scan(t: &Table) {
    t.loom_dead
        .store(1 << 1, std::sync::atomic::Ordering::Relaxed);
    act_as(3);
    t.reclaim_expired();
}

/// Operator 1 dies at crash point `k` of `step`, (a) while operator 2 works
/// on the same engine, then the scan runs; (b) alone, then the scan races
/// operator 2. Either way every count and slot comes back. `true` once `k`
/// is past the step's last crash point.
fn dies_at(step: Step, k: u32) -> bool {
    let lived = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let l2 = lived.clone();
    run_model(2, move || {
        let (t, pre) = setup(step);
        let o = other(t.clone());
        let t1 = t.clone();
        let dying = thread::spawn(move || run_dying(&t1, step, pre, k));
        if dying.join().unwrap() {
            l2.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        o.join().unwrap();
        scan(&t);
        all_back(&t);
    });
    run_model(2, move || {
        let (t, pre) = setup(step);
        run_dying(&t, step, pre, k);
        let o = other(t.clone());
        scan(&t);
        o.join().unwrap();
        all_back(&t);
        // The table still works: the engine takes two streams again.
        let a = t.reserve().unwrap().expect("count back");
        let b = t.reserve().unwrap().expect("count back");
        assert_eq!(t.reserve().unwrap(), None);
        t.cancel(a.ticket).unwrap();
        t.cancel(b.ticket).unwrap();
    });
    lived.load(std::sync::atomic::Ordering::Relaxed)
}

fn every_step(step: Step) {
    for k in 1..30 {
        if dies_at(step, k) {
            return;
        }
    }
    panic!("more crash points than expected");
}

#[test]
fn a_reserve_that_dies_anywhere_is_undone_or_finished() {
    every_step(Step::Reserve);
}

#[test]
fn a_commit_that_dies_anywhere_is_undone_or_finished() {
    every_step(Step::Commit);
}

#[test]
fn a_release_that_dies_anywhere_is_undone_or_finished() {
    every_step(Step::Release);
}

#[test]
fn the_holder_scan_never_touches_a_live_step() {
    run_model(2, || {
        let t = table(2, 0);
        t.add_engine(b"e", 1).unwrap();
        // Operator 5 is dead (and held nothing); 1, whose steps race the
        // scan, is alive.
        t.loom_dead
            .store(1 << 5, std::sync::atomic::Ordering::Relaxed);
        let t2 = t.clone();
        let scanner = thread::spawn(move || {
            act_as(2);
            t2.reclaim_expired()
        });
        act_as(1);
        let r = t.reserve().unwrap().expect("room");
        t.commit(r.ticket).unwrap();
        assert_eq!(t.release(r.ticket), Ok(()));
        assert_eq!(scanner.join().unwrap(), 0);
        all_back(&t);
    });
}
