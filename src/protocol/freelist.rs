//! Free ticket slots: one parked slot per thread in front of a lock-free
//! free list (a Treiber stack over indices).
//!
//! A thread that finishes a ticket keeps its slot *parked* for its own next
//! reservation instead of pushing it: the slot's free word gets the `busy`
//! bit (which no free word otherwise has) and the thread remembers the
//! slot in a thread-local. Its next reservation claims the slot back with a
//! compare-and-swap on that slot's own word, so the common
//! reserve/.../release cycle of a thread touches no shared free-list head
//! at all (no cache line bouncing between threads, one read-modify-write
//! fewer per cycle). Any thread may claim a parked slot the same way, so a
//! parked slot is never lost: when the free list is empty, `steal` scans
//! the ticket array for parked slots (the slow path before `TableFull`).
//! The thread-local is only a hint: the claim succeeds only if the slot is
//! still parked with the generation it was parked with.
//!
//! The head word packs an ABA counter (high 32 bits) with the top slot's
//! index + 1 (low 32 bits, 0 = empty). Every successful push or pop bumps
//! the counter, so a pop that read `next` of a slot that was meanwhile
//! popped, reused and pushed back fails its compare-and-swap instead of
//! installing a stale link. Links are indices into the ticket array, never
//! pointers, and every index read from memory is bounds-checked before use.

use crate::bits::ticket_word::TicketWord;
use crate::memory::layout::TicketSlot;
use crate::sync::{AtomicU64, Ordering};
use std::cell::Cell;

const INDEX_MASK: u64 = 0xFFFF_FFFF;

#[inline]
const fn pack(counter: u64, index_plus_one: u32) -> u64 {
    (counter << 32) | index_plus_one as u64
}

/// Takes a free slot, or `None` when the list is empty.
#[inline]
pub(crate) fn pop(head: &AtomicU64, slots: &[TicketSlot]) -> Option<u32> {
    // Acquire pairs with the Release CAS in `push`: once we see a slot at the
    // head we also see the `next` link and the free ticket word the pusher
    // wrote before pushing it.
    let mut cur = head.load(Ordering::Acquire);
    loop {
        let top = (cur & INDEX_MASK) as u32;
        let index = top.checked_sub(1)?;
        let slot = slots.get(index as usize)?;
        // Relaxed: if the slot was popped (and maybe pushed again) since we
        // read `cur`, the counter in the head changed and the CAS fails.
        let next = slot.next.load(Ordering::Relaxed);
        let new = pack((cur >> 32).wrapping_add(1), next);
        // Acquire on success for the same reason as the first load (this CAS
        // may read a value a later push released). On failure another thread
        // pushed or popped: retrying from the value it left is correct, and
        // that thread made progress, so the list is lock-free.
        match head.compare_exchange_weak(cur, new, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => return Some(index),
            Err(actual) => cur = actual,
        }
    }
}

/// Returns slot `index` to the list. The caller owns the slot (it popped it
/// and has finished with it); `index` is in bounds.
#[inline]
pub(crate) fn push(head: &AtomicU64, slots: &[TicketSlot], index: u32) {
    let Some(slot) = slots.get(index as usize) else {
        debug_assert!(false, "push of out-of-range slot {index}");
        return;
    };
    let mut cur = head.load(Ordering::Relaxed);
    loop {
        // Relaxed: published by the Release CAS below.
        slot.next
            .store((cur & INDEX_MASK) as u32, Ordering::Relaxed);
        let new = pack((cur >> 32).wrapping_add(1), index + 1);
        // Release pairs with the Acquire in `pop`: it publishes `next` and
        // everything we did to the slot before giving it up. On failure
        // another thread changed the head; relinking to the new head and
        // retrying is correct because the slot is still ours alone.
        match head.compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

/// The slot this thread parked: `(table id, slot index, parked word)`;
/// table id 0 = none.
type ParkedSlot = (usize, u32, u64);

#[cfg(not(loom))]
std::thread_local! {
    static PARKED: Cell<ParkedSlot> = const { Cell::new((0, 0, 0)) };
}
// Under loom every model thread needs its own hint, reset per execution.
#[cfg(loom)]
loom::thread_local! {
    static PARKED: Cell<ParkedSlot> = Cell::new((0, 0, 0));
}

/// Takes a free slot for a reservation in table `table` (any nonzero id
/// unique among live tables, e.g. its address): the slot this thread
/// parked, else one from the free list. `None` when both are empty (then
/// try [`steal`]).
#[inline]
pub(crate) fn take(table: usize, head: &AtomicU64, slots: &[TicketSlot]) -> Option<u32> {
    let (t, index, word) = PARKED.with(Cell::get);
    if t == table {
        // Whether or not the claim below succeeds, the hint is used up.
        PARKED.with(|p| p.set((0, 0, 0)));
        if let Some(slot) = slots.get(index as usize) {
            let parked = TicketWord(word);
            // Acquire pairs with the Release store in `give_back` (or in
            // whichever `give_back` parked it since): we own the slot and
            // see everything done to it before it was parked. No retry: if
            // the word changed, another thread claimed the slot, and the
            // free list is the next place to look.
            if slot
                .word
                .compare_exchange(
                    word,
                    parked.unparked().0,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return Some(index);
            }
        }
    }
    pop(head, slots)
}

/// Claims any parked slot (the free list is empty; parked slots of other
/// threads, or of threads that exited, are the last free ones). One pass
/// over the ticket array.
pub(crate) fn steal(slots: &[TicketSlot]) -> Option<u32> {
    slots.iter().enumerate().find_map(|(index, slot)| {
        // Relaxed: only a hint for the CAS below, which decides.
        let w = TicketWord(slot.word.load(Ordering::Relaxed));
        // Acquire as in `take`. A failed CAS means the owner (or another
        // stealer) claimed it first: move on to the next slot.
        (w.is_parked()
            && slot
                .word
                .compare_exchange(w.0, w.unparked().0, Ordering::Acquire, Ordering::Relaxed)
                .is_ok())
        .then_some(index as u32)
    })
}

/// Returns slot `index`, whose word the caller set to the free word `free`
/// and whose other fields it no longer uses, for reuse: parked for this
/// thread if it has no parked slot in this table yet, else pushed.
#[inline]
pub(crate) fn give_back(
    table: usize,
    head: &AtomicU64,
    slots: &[TicketSlot],
    index: u32,
    free: TicketWord,
) {
    let Some(slot) = slots.get(index as usize) else {
        debug_assert!(false, "give_back of out-of-range slot {index}");
        return;
    };
    let mine = PARKED.with(|p| p.get().0 == table);
    if mine {
        push(head, slots, index);
        return;
    }
    let parked = free.parked();
    // Release pairs with the Acquire CAS in `take`/`steal`: whoever claims
    // the slot sees everything we did to it. The slot is ours alone until
    // this store (a free word without `busy` is claimed by nobody), so a
    // plain store suffices.
    slot.word.store(parked.0, Ordering::Release);
    PARKED.with(|p| p.set((table, index, parked.0)));
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn slots(n: u32) -> (AtomicU64, Vec<TicketSlot>) {
        let v = (0..n)
            .map(|i| TicketSlot::new(if i + 1 < n { i + 2 } else { 0 }))
            .collect();
        (AtomicU64::new(1), v)
    }

    #[test]
    fn lifo_and_exhaustion() {
        let (head, s) = slots(3);
        assert_eq!(pop(&head, &s), Some(0));
        assert_eq!(pop(&head, &s), Some(1));
        assert_eq!(pop(&head, &s), Some(2));
        assert_eq!(pop(&head, &s), None);
        push(&head, &s, 1);
        push(&head, &s, 2);
        assert_eq!(pop(&head, &s), Some(2));
        assert_eq!(pop(&head, &s), Some(1));
        assert_eq!(pop(&head, &s), None);
    }

    #[test]
    fn parked_slots_come_back_to_their_thread_or_are_stolen() {
        let (head, s) = slots(2);
        let free = |i: usize| TicketWord(s[i].word.load(Ordering::Relaxed));
        assert_eq!(take(7, &head, &s), Some(0));
        assert_eq!(take(7, &head, &s), Some(1));
        assert_eq!(take(7, &head, &s), None);
        give_back(7, &head, &s, 1, free(1));
        assert!(free(1).is_parked());
        // A second give-back while one is parked goes to the list.
        give_back(7, &head, &s, 0, free(0));
        assert!(!free(0).is_parked());
        assert_eq!(take(7, &head, &s), Some(1), "the parked slot first");
        assert_eq!(take(7, &head, &s), Some(0));
        // Parked for table 7, wanted by table 8: only stealing finds it.
        give_back(7, &head, &s, 1, free(1));
        assert_eq!(take(8, &head, &s), None);
        assert_eq!(steal(&s), Some(1));
        assert!(!free(1).is_parked());
        assert_eq!(steal(&s), None);
        // The stale hint of table 7 fails its claim and falls through.
        assert_eq!(take(7, &head, &s), None);
    }

    #[test]
    fn garbage_links_are_not_followed() {
        let (head, s) = slots(2);
        s[0].next.store(99, Ordering::Relaxed);
        assert_eq!(pop(&head, &s), Some(0));
        assert_eq!(pop(&head, &s), None);
        head.store(pack(0, 7), Ordering::Relaxed);
        assert_eq!(pop(&head, &s), None);
    }

    #[test]
    fn threads_never_share_a_slot() {
        use std::sync::atomic::AtomicBool;
        let (head, s) = slots(8);
        let owned: Vec<AtomicBool> = (0..8).map(|_| AtomicBool::new(false)).collect();
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    for _ in 0..20_000 {
                        if let Some(i) = pop(&head, &s) {
                            assert!(!owned[i as usize].swap(true, Ordering::Relaxed));
                            owned[i as usize].store(false, Ordering::Relaxed);
                            push(&head, &s, i);
                        }
                    }
                });
            }
        });
        let mut n = 0;
        while pop(&head, &s).is_some() {
            n += 1;
        }
        assert_eq!(n, 8);
    }
}
