//! Loom models of every protocol (`RUSTFLAGS="--cfg loom"`, see
//! `scripts/loom.sh`). Each model builds a tiny table, races 2-3 threads
//! through one protocol, and asserts the invariant, not just "no panic".
//!
//! The clock is a [`ManualClock`] outside loom's view: loom runs one thread
//! at a time, so a clock move lands at a well-defined point of each explored
//! schedule, which is exactly the "lease runs out in the middle" we want.

use crate::{Config, Engine, Error, ManualClock, Policy, Table, Ticket};

mod free_slots;
mod intent;
mod sweep_lease;
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

fn config(engines: u32, tickets: u32, pending_ms: u32, active_ms: u32) -> Config {
    Config {
        max_engines: engines,
        max_tickets: tickets,
        default_capacity: 1,
        pending_lease_ms: pending_ms,
        active_lease_ms: active_ms,
        policy: Policy::LeastLoaded,
    }
}

fn counts(t: &Table, e: Engine) -> (u32, u32, u64) {
    let s = t.engine_stats(e).unwrap();
    (s.active, s.pending, s.expired_total)
}

/// Runs `f` under loom with at most `preemptions` preemptions (unless the
/// environment sets a smaller bound).
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    let env = std::env::var("LOOM_MAX_PREEMPTIONS")
        .ok()
        .and_then(|v| v.parse().ok());
    b.preemption_bound = Some(env.map_or(preemptions, |e: usize| e.max(preemptions)));
    b.check(f);
}

#[test]
fn two_reservers_race_for_the_last_slot() {
    model(3, || {
        let t = Arc::new(Table::new(config(2, 4, 0, 0)).unwrap());
        let a = t.add_engine(b"a", 2).unwrap();
        let b = t.add_engine(b"b", 1).unwrap();
        // a: 1 of 2 taken, b: full. One slot left in the whole table.
        t.reserve_on(a).unwrap().unwrap();
        t.reserve_on(b).unwrap().unwrap();
        let t2 = t.clone();
        let h = thread::spawn(move || t2.reserve().unwrap());
        let mine = t.reserve().unwrap();
        let theirs = h.join().unwrap();
        assert!(
            mine.is_some() ^ theirs.is_some(),
            "exactly one wins the last slot"
        );
        assert_eq!(counts(&t, a), (0, 2, 0));
        assert_eq!(counts(&t, b), (0, 1, 0));
    });
}

#[test]
fn reserve_races_capacity_lowering() {
    model(2, || {
        let t = Arc::new(Table::new(config(1, 3, 0, 0)).unwrap());
        let e = t.add_engine(b"e", 2).unwrap();
        t.reserve().unwrap().unwrap();
        let t2 = t.clone();
        let h = thread::spawn(move || t2.reserve().unwrap().is_some());
        t.set_capacity(e, 1).unwrap();
        // Once the lower capacity is in place nothing more is admitted.
        let after = t.reserve().unwrap();
        let theirs = h.join().unwrap();
        assert!(after.is_none());
        let (_, pending, _) = counts(&t, e);
        assert_eq!(pending, 1 + theirs as u32);
        assert!(pending <= 2);
    });
}

/// A pending ticket whose lease runs out while it is being finished: the
/// holder's operation and the reclaimer race; exactly one outcome happens.
fn finish_races_expiry(commit: bool) {
    model(2, move || {
        let clock = ManualClock::new(1_000);
        let t = Arc::new(Table::with_manual_clock(config(1, 2, 10, 0), &clock).unwrap());
        let e = t.add_engine(b"e", 1).unwrap();
        let r = t.reserve().unwrap().unwrap();
        let (t2, c2) = (t.clone(), clock.clone());
        let h = thread::spawn(move || {
            c2.advance(Duration::from_millis(10));
            t2.reclaim_expired()
        });
        let res = if commit {
            t.commit(r.ticket)
        } else {
            t.cancel(r.ticket)
        };
        let reclaimed = h.join().unwrap();
        let (active, pending, expired) = counts(&t, e);
        match res {
            Ok(()) if commit => assert_eq!((active, pending, expired, reclaimed), (1, 0, 0, 0)),
            Ok(()) => assert_eq!((active, pending, expired, reclaimed), (0, 0, 0, 0)),
            Err(err) => {
                assert_eq!(err, Error::Stale);
                assert_eq!(
                    (active, pending, expired),
                    (0, 0, 1),
                    "expired exactly once"
                );
            }
        }
        // The ticket is finished or active, never both, never lost.
        let c = t.ticket_counts();
        assert_eq!(c.active, active);
        assert_eq!(c.free + c.active, 2);
    });
}

#[test]
fn commit_races_pending_lease_expiry() {
    finish_races_expiry(true);
}

#[test]
fn cancel_races_pending_lease_expiry() {
    finish_races_expiry(false);
}

#[test]
fn touch_races_active_lease_expiry() {
    model(2, || {
        let clock = ManualClock::new(1_000);
        let t = Arc::new(Table::with_manual_clock(config(1, 1, 0, 10), &clock).unwrap());
        let e = t.add_engine(b"e", 1).unwrap();
        let r = t.reserve().unwrap().unwrap();
        t.commit(r.ticket).unwrap();
        clock.advance(Duration::from_millis(5));
        let (t2, c2) = (t.clone(), clock.clone());
        let h = thread::spawn(move || {
            c2.advance(Duration::from_millis(6));
            t2.reclaim_expired()
        });
        let touched = t.touch(r.ticket);
        let reclaimed = h.join().unwrap();
        let (active, pending, expired) = counts(&t, e);
        assert_eq!(pending, 0);
        match touched {
            // Touched in time: the lease now runs to 15 ms > 11 ms.
            Ok(()) => {
                assert_eq!((active, expired, reclaimed), (1, 0, 0));
                t.release(r.ticket).unwrap();
            }
            Err(err) => {
                assert_eq!(err, Error::Stale);
                assert_eq!((active, expired), (0, 1));
                assert_eq!(t.release(r.ticket), Err(Error::Stale));
            }
        }
        assert_eq!(t.ticket_counts().free, 1);
    });
}

#[test]
fn release_races_engine_removal_and_slot_reuse() {
    model(2, || {
        let t = Arc::new(Table::new(config(1, 3, 0, 0)).unwrap());
        let old = t.add_engine(b"old", 2).unwrap();
        let r = t.reserve().unwrap().unwrap();
        t.commit(r.ticket).unwrap();
        let t2 = t.clone();
        let h = thread::spawn(move || {
            t2.remove_engine(old).unwrap();
            let new = t2.add_engine(b"new", 2).unwrap();
            let mine = t2.reserve_on(new).unwrap().unwrap();
            (new, mine.ticket)
        });
        assert_eq!(t.release(r.ticket), Ok(()));
        let (new, theirs) = h.join().unwrap();
        // The stale ticket never touched the engine now in the slot.
        assert_eq!(counts(&t, new), (0, 1, 0));
        assert_eq!(t.release(r.ticket), Err(Error::Stale));
        t.cancel(theirs).unwrap();
        assert_eq!(counts(&t, new), (0, 0, 0));
        assert_eq!(t.ticket_counts().free, 3);
    });
}

#[test]
fn commit_races_a_misused_release() {
    // A caller bug: one thread commits while another releases the same
    // ticket. The release must not see the ticket as active before the
    // commit moved the engine's counts (no underflow, no lost count).
    model(2, || {
        let t = Arc::new(Table::new(config(1, 1, 0, 0)).unwrap());
        let e = t.add_engine(b"e", 1).unwrap();
        let r = t.reserve().unwrap().unwrap();
        let t2 = t.clone();
        let h = thread::spawn(move || t2.release(r.ticket));
        t.commit(r.ticket).unwrap();
        let released = h.join().unwrap();
        let (active, pending, _) = counts(&t, e);
        assert_eq!(pending, 0);
        assert_eq!(active, if released.is_ok() { 0 } else { 1 });
        assert_eq!(t.ticket_counts().active, active);
    });
}

#[test]
fn lease_hint_never_hides_an_expired_ticket() {
    // A reservation publishes a leased ticket while a sweep resets the
    // "earliest deadline" hint. Afterwards, once the lease is over, a
    // reserve that finds no room must still win the ticket back.
    model(2, || {
        let clock = ManualClock::new(1_000);
        let t = Arc::new(Table::with_manual_clock(config(1, 2, 10, 0), &clock).unwrap());
        t.add_engine(b"e", 1).unwrap();
        let t2 = t.clone();
        let h = thread::spawn(move || t2.reclaim_expired());
        let leaked = t.reserve().unwrap().unwrap();
        assert_eq!(h.join().unwrap(), 0);
        clock.advance(Duration::from_millis(10));
        let fresh = t.reserve().unwrap();
        assert!(
            fresh.is_some(),
            "the expired ticket was reclaimed inside reserve"
        );
        assert_eq!(t.cancel(leaked.ticket), Err(Error::Stale));
    });
}

#[test]
fn add_races_find_and_remove() {
    // The seqlock key read: a finder never returns a handle whose key is not
    // the one it asked for, even while the slot is removed and reused.
    model(2, || {
        let t = Arc::new(Table::new(config(1, 1, 0, 0)).unwrap());
        let a = t.add_engine(b"aaaaaaaa", 1).unwrap();
        let t2 = t.clone();
        let h = thread::spawn(move || {
            t2.remove_engine(a).unwrap();
            t2.add_engine(b"bbbbbbbb", 1).unwrap()
        });
        let found = t.find_engine(b"aaaaaaaa");
        let b = h.join().unwrap();
        match found {
            Ok(h) => assert_eq!(h, a),
            Err(e) => assert_eq!(e, Error::NotFound),
        }
        assert_eq!(t.find_engine(b"bbbbbbbb"), Ok(b));
        assert_eq!(t.engine_stats(a), Err(Error::Stale));
        let _ = Ticket::from_raw(0);
    });
}

#[test]
fn reserve_waits_for_a_concurrent_sweep() {
    // The only slot is held by an expired ticket. One thread sweeps while
    // another reserves: the reserve must get the slot, whether it reclaims
    // the ticket itself, or the sweep does and the reserve waits for it.
    model(2, || {
        let clock = ManualClock::new(1_000);
        let t = Arc::new(Table::with_manual_clock(config(1, 2, 10, 0), &clock).unwrap());
        t.add_engine(b"e", 1).unwrap();
        let leaked = t.reserve().unwrap().unwrap();
        clock.advance(Duration::from_millis(10));
        let t2 = t.clone();
        let h = thread::spawn(move || t2.reclaim_expired());
        let got = t.reserve().unwrap();
        let swept = h.join().unwrap();
        assert!(
            got.is_some(),
            "an expired ticket blocked the reserve (sweep got {swept})"
        );
        assert_eq!(t.commit(leaked.ticket), Err(Error::Stale));
    });
}

#[test]
fn parked_slots_are_never_lost() {
    // Two threads run a cycle each, so each parks its slot; a third thread
    // (nothing parked, free list empty) must still get both slots.
    model(2, || {
        let t = Arc::new(Table::new(config(1, 2, 0, 0)).unwrap());
        let e = t.add_engine(b"e", 2).unwrap();
        let cycle = |t: &Table| {
            let r = t.reserve().unwrap().expect("room");
            t.commit(r.ticket).unwrap();
            t.release(r.ticket).unwrap();
        };
        let t2 = t.clone();
        let h = thread::spawn(move || cycle(&t2));
        let t3 = t.clone();
        let h3 = thread::spawn(move || cycle(&t3));
        h.join().unwrap();
        h3.join().unwrap();
        let a = t.reserve().unwrap().expect("a parked slot is stolen");
        let b = t.reserve().unwrap().expect("both parked slots are stolen");
        assert_eq!(t.reserve(), Err(Error::TableFull));
        assert_eq!(counts(&t, e), (0, 2, 0));
        t.cancel(a.ticket).unwrap();
        t.cancel(b.ticket).unwrap();
        assert_eq!(t.ticket_counts().free, 2);
    });
}
