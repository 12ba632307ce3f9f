//! The sweep lease (`crate::table::reclaim`): a sweeper that dies at any
//! step of its sweep, then two sweepers (a forced reclaim and a refused
//! reserve) racing. Afterwards the lease is free, a refused reserve with
//! nothing due does no full sweep, and once the lease of a ticket is over a
//! refused reserve wins it back (the hint never hides it).

use super::{config, run_model};
use crate::table::intent::{act_as, crash_after, Crashed};
use crate::{Clock, Error, ManualClock, Table};
use loom::sync::Arc;
use loom::thread;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Duration;

fn dies_at(k: u32) -> bool {
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f2 = finished.clone();
    run_model(2, move || {
        let clock = ManualClock::new(1_000);
        let t = Table::crash_safe_for_loom(config(1, 2, 10, 0), Clock::Manual(clock.clone()));
        let t = Arc::new(t.unwrap());
        t.add_engine(b"e", 1).unwrap();
        // The only room is held by a ticket whose lease ends at 1010 ms.
        let leaked = t.reserve().unwrap().unwrap();
        let t1 = t.clone();
        let dying = thread::spawn(move || {
            act_as(1);
            crash_after(k);
            match catch_unwind(AssertUnwindSafe(|| t1.reclaim_expired())) {
                Ok(_) => true,
                Err(p) if p.is::<Crashed>() => false,
                Err(p) => resume_unwind(p),
            }
        });
        if dying.join().unwrap() {
            f2.store(true, Ordering::Relaxed);
        }
        t.loom_dead.store(1 << 1, Ordering::Relaxed);
        let t2 = t.clone();
        let refused = thread::spawn(move || {
            act_as(2);
            t2.reserve().unwrap()
        });
        act_as(3);
        t.reclaim_expired();
        assert_eq!(refused.join().unwrap(), None, "nothing had expired");
        // The lease is back, the hint trusted: no sweep for nothing.
        let before = t.full_sweeps();
        assert_eq!(t.reserve().unwrap(), None);
        assert_eq!(
            t.full_sweeps(),
            before,
            "a refused reserve swept for nothing"
        );
        // Once the ticket's lease is over, a refused reserve finds it.
        clock.advance(Duration::from_millis(10));
        let r = t
            .reserve()
            .unwrap()
            .expect("the expired ticket was reclaimed");
        assert_eq!(t.cancel(leaked.ticket), Err(Error::Stale));
        t.cancel(r.ticket).unwrap();
    });
    finished.load(Ordering::Relaxed)
}

#[test]
fn two_sweepers_and_a_dying_one() {
    for k in 1..20 {
        if dies_at(k) {
            return;
        }
    }
    panic!("more crash points than expected");
}
