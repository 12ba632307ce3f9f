//! Engine removal: releases, commits and lookups racing the removal (and
//! reuse) of the engine slot a ticket or key points at.

use super::*;

#[test]
fn release_races_engine_removal_and_slot_reuse() {
    run_model(2, || {
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
fn commit_races_engine_removal_and_slot_reuse() {
    // A commit whose engine is removed (and its slot taken by a new engine)
    // at any point of the commit: either the commit lands on the old engine
    // before the removal (Ok, then the ticket can only be released), or it
    // finds the engine gone (Stale, the ticket is finished). Never does it
    // move a count of the new engine, and no ticket slot is lost.
    run_model(2, || {
        let t = Arc::new(Table::new(config(1, 3, 0, 0)).unwrap());
        let old = t.add_engine(b"old", 2).unwrap();
        let r = t.reserve().unwrap().unwrap();
        let t2 = t.clone();
        let h = thread::spawn(move || {
            t2.remove_engine(old).unwrap();
            let new = t2.add_engine(b"new", 2).unwrap();
            let mine = t2.reserve_on(new).unwrap().unwrap();
            (new, mine.ticket)
        });
        let committed = t.commit(r.ticket);
        let (new, theirs) = h.join().unwrap();
        assert_eq!(counts(&t, new), (0, 1, 0), "the new engine is untouched");
        match committed {
            // Committed before the removal: only a release finishes it,
            // and that touches nothing but the ticket.
            Ok(()) => assert_eq!(t.release(r.ticket), Ok(())),
            // The engine was gone: the commit finished the ticket.
            Err(e) => assert_eq!(e, Error::Stale),
        }
        assert_eq!(t.release(r.ticket), Err(Error::Stale));
        assert_eq!(t.cancel(r.ticket), Err(Error::Stale));
        assert_eq!(counts(&t, new), (0, 1, 0));
        t.cancel(theirs).unwrap();
        assert_eq!(counts(&t, new), (0, 0, 0));
        assert_eq!(t.ticket_counts().free, 3, "no ticket slot lost");
    });
}

#[test]
fn commit_races_a_misused_release() {
    // A caller bug: one thread commits while another releases the same
    // ticket. The release must not see the ticket as active before the
    // commit moved the engine's counts (no underflow, no lost count).
    run_model(2, || {
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
fn add_races_find_and_remove() {
    // The seqlock key read: a finder never returns a handle whose key is not
    // the one it asked for, even while the slot is removed and reused.
    run_model(2, || {
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
