//! Free ticket slots (`crate::protocol::freelist`): the bitmap and the
//! parked slots under concurrent claims and give-backs.

use super::*;
use crate::bits::ticket_word::{Kind, TicketWord};
use crate::memory::layout::TicketSlot;
use crate::protocol::freelist;
use crate::sync::{AtomicU64, Ordering};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

struct Slots {
    bits: Vec<AtomicU64>,
    slots: Vec<TicketSlot>,
    // Loom reports a data race if two threads ever own a slot at once.
    owner: Vec<UnsafeCell<usize>>,
}

impl Slots {
    fn new(n: usize) -> Arc<Slots> {
        Arc::new(Slots {
            bits: vec![AtomicU64::new((1 << n) - 1)],
            slots: (0..n).map(|_| TicketSlot::new()).collect(),
            owner: (0..n).map(|_| UnsafeCell::new(0)).collect(),
        })
    }
    fn own(&self, i: u32, me: usize) {
        // SAFETY: loom checks that no other thread accesses this cell
        // concurrently (that is the invariant under test).
        self.owner[i as usize].with_mut(|p| unsafe { *p = me });
    }
    fn word(&self, i: usize) -> TicketWord {
        TicketWord(self.slots[i].word.load(Ordering::Relaxed))
    }
}

#[test]
fn bitmap_claims_never_share_a_slot_and_lose_none() {
    run_model(3, || {
        let s = Slots::new(2);
        let work = |s: Arc<Slots>, me: usize| {
            for _ in 0..2 {
                if let Some(i) = freelist::take(10 + me, &s.bits, &s.slots, me as u32) {
                    s.own(i, me);
                    let w = s.word(i as usize);
                    assert_eq!((w.kind(), w.operator()), (Kind::Claimed, me as u32));
                    freelist::give_back(10 + me, &s.bits, &s.slots, i, w, me as u32);
                }
            }
        };
        let s2 = s.clone();
        let h = thread::spawn(move || work(s2, 2));
        work(s.clone(), 1);
        h.join().unwrap();
        // Both slots are claimable again, each exactly once.
        let a = freelist::steal(&s.bits, &s.slots, 9).expect("first slot back");
        let b = freelist::steal(&s.bits, &s.slots, 9).expect("second slot back");
        assert_ne!(a, b);
        assert_eq!(freelist::steal(&s.bits, &s.slots, 9), None);
    });
}

#[test]
fn parked_slot_is_claimed_by_exactly_one() {
    // A thread parks the only free slot and claims it back while another
    // thread, finding the bitmap empty, steals parked slots.
    run_model(3, || {
        let s = Slots::new(1);
        let mine = freelist::take(1, &s.bits, &s.slots, 1).unwrap();
        let s2 = s.clone();
        let h = thread::spawn(move || {
            let got = freelist::steal(&s2.bits, &s2.slots, 2);
            if let Some(i) = got {
                s2.own(i, 2);
            }
            got
        });
        freelist::give_back(1, &s.bits, &s.slots, mine, s.word(0), 1);
        let again = freelist::take(1, &s.bits, &s.slots, 1);
        if let Some(i) = again {
            s.own(i, 1);
        }
        let theirs = h.join().unwrap();
        assert!(again.is_some() ^ theirs.is_some(), "claimed exactly once");
        // Whoever has it holds a claimed word; nothing is left free.
        assert_eq!(s.word(0).kind(), Kind::Claimed);
        assert_eq!(freelist::steal(&s.bits, &s.slots, 3), None);
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
