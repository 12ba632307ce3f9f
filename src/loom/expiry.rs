//! Leases: commit, cancel and touch racing the expiry of the same ticket, and
//! the sweep hint that must never hide an expired ticket.

use super::*;

/// A pending ticket whose lease runs out while it is being finished: the
/// holder's operation and the reclaimer race; exactly one outcome happens.
fn finish_races_expiry(commit: bool) {
    run_model(2, move || {
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
    run_model(2, || {
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
fn lease_hint_never_hides_an_expired_ticket() {
    // A reservation publishes a leased ticket while a sweep resets the
    // "earliest deadline" hint. Afterwards, once the lease is over, a
    // reserve that finds no room must still win the ticket back.
    run_model(2, || {
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
