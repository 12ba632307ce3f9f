//! The lock-free free list of ticket slots (a Treiber stack over indices).
//!
//! The head word packs an ABA counter (high 32 bits) with the top slot's
//! index + 1 (low 32 bits, 0 = empty). Every successful push or pop bumps
//! the counter, so a pop that read `next` of a slot that was meanwhile
//! popped, reused and pushed back fails its compare-and-swap instead of
//! installing a stale link. Links are indices into the ticket array, never
//! pointers, and every index read from memory is bounds-checked before use.

use crate::layout::TicketSlot;
use crate::sync::{AtomicU64, Ordering};

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
