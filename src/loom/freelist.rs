//! The ticket free list: pop/push under contention and per-thread parked
//! slots that must be claimed exactly once and never lost.

use super::*;

#[test]
fn free_list_pop_push_under_contention() {
    use crate::memory::layout::TicketSlot;
    use crate::protocol::freelist;
    use crate::sync::AtomicU64;
    use loom::cell::UnsafeCell;

    struct List {
        head: AtomicU64,
        slots: Vec<TicketSlot>,
        // Loom reports a data race if two threads ever own a slot at once.
        owner: Vec<UnsafeCell<usize>>,
    }
    run_model(3, || {
        let list = Arc::new(List {
            head: AtomicU64::new(1),
            slots: vec![TicketSlot::new(2), TicketSlot::new(0)],
            owner: vec![UnsafeCell::new(0), UnsafeCell::new(0)],
        });
        let work = |l: Arc<List>, me: usize| {
            for _ in 0..2 {
                if let Some(i) = freelist::pop(&l.head, &l.slots) {
                    l.owner[i as usize].with_mut(|p| {
                        // SAFETY: loom checks that no other thread accesses
                        // this cell concurrently (that is the invariant).
                        unsafe { *p = me }
                    });
                    freelist::push(&l.head, &l.slots, i);
                }
            }
        };
        let hs: Vec<_> = (1..3)
            .map(|me| {
                let l = list.clone();
                thread::spawn(move || work(l, me))
            })
            .collect();
        work(list.clone(), 3);
        for h in hs {
            h.join().unwrap();
        }
        // Both slots are back, each exactly once.
        let a = freelist::pop(&list.head, &list.slots);
        let b = freelist::pop(&list.head, &list.slots);
        assert_eq!(freelist::pop(&list.head, &list.slots), None);
        let mut got = [a.unwrap(), b.unwrap()];
        got.sort();
        assert_eq!(got, [0, 1]);
    });
}

#[test]
fn parked_slot_is_claimed_by_exactly_one() {
    // A thread parks the only free slot and claims it back while another
    // thread, finding the free list empty, steals parked slots.
    use crate::bits::ticket_word::TicketWord;
    use crate::memory::layout::TicketSlot;
    use crate::protocol::freelist;
    use crate::sync::{AtomicU64, Ordering};
    use loom::cell::UnsafeCell;

    struct One {
        head: AtomicU64,
        slots: Vec<TicketSlot>,
        // Loom reports a data race if two threads ever own the slot at once.
        owner: UnsafeCell<usize>,
    }
    run_model(3, || {
        let one = Arc::new(One {
            head: AtomicU64::new(0),
            slots: vec![TicketSlot::new(0)],
            owner: UnsafeCell::new(0),
        });
        let own = |o: &One, me: usize| {
            // SAFETY: loom checks that no other thread accesses this cell
            // concurrently (that is the invariant under test).
            o.owner.with_mut(|p| unsafe { *p = me });
        };
        let o2 = one.clone();
        let h = thread::spawn(move || {
            let got = freelist::steal(&o2.slots);
            if got.is_some() {
                own(&o2, 2);
            }
            got
        });
        let free = TicketWord(one.slots[0].word.load(Ordering::Relaxed));
        freelist::give_back(1, &one.head, &one.slots, 0, free);
        let mine = freelist::take(1, &one.head, &one.slots);
        if mine.is_some() {
            own(&one, 1);
        }
        let theirs = h.join().unwrap();
        assert!(mine.is_some() ^ theirs.is_some(), "claimed exactly once");
        // Whoever has it holds a plain free word; nothing is left parked.
        let w = TicketWord(one.slots[0].word.load(Ordering::Relaxed));
        assert!(!w.is_parked());
        assert_eq!(freelist::steal(&one.slots), None);
    });
}

#[test]
fn parked_slots_are_never_lost() {
    // Two threads run a cycle each, so each parks its slot; a third thread
    // (nothing parked, free list empty) must still get both slots.
    run_model(2, || {
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
