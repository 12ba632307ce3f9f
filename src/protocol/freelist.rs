//! Free ticket slots: one parked slot per thread in front of a bitmap of
//! free slots.
//!
//! A slot belongs to whoever moved its own word from free (or parked) to
//! *claimed by me* with one compare-and-swap: ownership is always written in
//! the slot, with the owner's name (its operator reference), so a process
//! that dies holding a slot, at any instruction, leaves a slot the holder
//! scan recognises and gives back (`crate::table::intent`). (The Treiber
//! stack this replaces moved a slot out of the shared list with a CAS on the
//! list head: a process killed right after it owned a slot nobody could see.)
//!
//! The bitmap only says where to look: bit `i` is set whenever slot `i` is
//! free, and may be set for a while after someone claimed it. Whoever makes a
//! word free sets its bit first; the one who claims a slot clears its bit
//! afterwards; nobody else clears bits. So a free slot is always announced,
//! and a stale bit costs one failed look.
//!
//! A thread that finishes a ticket keeps its slot *parked* for its own next
//! reservation instead of announcing it: the word says "parked by me" and
//! the thread remembers the slot in a thread-local. Its next reservation
//! claims the slot back with a compare-and-swap on that slot's own word, so
//! the common reserve/.../release cycle of a thread touches no shared line
//! at all. Anyone may claim a parked slot the same way (`steal`, the slow
//! path before `TableFull`), so a parked slot is never lost; the thread-local
//! is only a hint.

use crate::bits::ticket_word::{Kind, TicketWord};
use crate::memory::layout::TicketSlot;
use crate::sync::{AtomicU64, Ordering};
use std::cell::Cell;

/// The slot this thread parked: `(table id, slot index, parked word)`;
/// table id 0 = none.
type ParkedSlot = (usize, u32, u64);

#[cfg(not(loom))]
std::thread_local! {
    static PARKED: Cell<ParkedSlot> = const { Cell::new((0, 0, 0)) };
    /// Bitmap word this thread looks at first: threads start apart, so they
    /// rarely race for one slot.
    static CURSOR: Cell<usize> = const { Cell::new(usize::MAX) };
}
// Under loom every model thread needs its own hint, reset per execution.
#[cfg(loom)]
loom::thread_local! {
    static PARKED: Cell<ParkedSlot> = Cell::new((0, 0, 0));
    static CURSOR: Cell<usize> = Cell::new(0);
}

#[inline]
fn bit_of(index: u32) -> (usize, u64) {
    (index as usize / 64, 1u64 << (index % 64))
}

/// Claims `slot`, seen with word `w`, for operator `op` if it is free or
/// parked.
#[inline]
fn claim(slot: &TicketSlot, w: TicketWord, op: u32) -> bool {
    // Acquire pairs with the Release store that freed or parked the word
    // (`give_back`, or the holder scan): we own the slot and see everything
    // done to it before. No retry here: a failure means someone else
    // claimed it first, and the caller looks elsewhere.
    w.is_claimable()
        && slot
            .word
            .compare_exchange(w.0, w.claimed(op).0, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
}

/// Takes a free slot for a reservation in table `table` (any nonzero id
/// unique among live tables, e.g. its address), claimed for `op`: the slot
/// this thread parked, else one the bitmap announces. `None` when neither
/// has one (then try [`steal`]).
#[inline]
pub(crate) fn take(table: usize, bits: &[AtomicU64], slots: &[TicketSlot], op: u32) -> Option<u32> {
    let (t, index, word) = PARKED.with(Cell::get);
    if t == table {
        // Whether or not the claim below succeeds, the hint is used up.
        PARKED.with(|p| p.set((0, 0, 0)));
        if let Some(slot) = slots.get(index as usize) {
            if claim(slot, TicketWord(word), op) {
                return Some(index);
            }
        }
    }
    search(bits, slots, op)
}

/// One pass over the bitmap from this thread's cursor.
fn search(bits: &[AtomicU64], slots: &[TicketSlot], op: u32) -> Option<u32> {
    let n = bits.len();
    if n == 0 {
        return None;
    }
    let start = CURSOR.with(|c| {
        let mut v = c.get();
        if v == usize::MAX {
            // First use: a per-thread spread.
            v = crate::protocol::random::splitmix64(c as *const _ as u64) as usize;
        }
        v % n
    });
    for k in 0..n {
        let wi = (start + k) % n;
        // Relaxed: the bitmap is a hint; `claim` decides.
        let mut b = bits[wi].load(Ordering::Relaxed);
        while b != 0 {
            let bit = b.trailing_zeros();
            let index = wi * 64 + bit as usize;
            if let Some(slot) = slots.get(index) {
                // Relaxed: a hint for the CAS in `claim`.
                let w = TicketWord(slot.word.load(Ordering::Relaxed));
                if claim(slot, w, op) {
                    // The slot is ours: its bit is ours to clear (Relaxed:
                    // a hint).
                    bits[wi].fetch_and(!(1u64 << bit), Ordering::Relaxed);
                    CURSOR.with(|c| c.set(wi));
                    return Some(index as u32);
                }
            }
            b &= b - 1;
        }
    }
    None
}

/// Claims any free or parked slot for `op` (the bitmap had none: parked
/// slots of other threads, or of threads that exited, are the last free
/// ones). One pass over the ticket array.
pub(crate) fn steal(bits: &[AtomicU64], slots: &[TicketSlot], op: u32) -> Option<u32> {
    slots.iter().enumerate().find_map(|(index, slot)| {
        // Relaxed: only a hint for the CAS in `claim`, which decides.
        let w = TicketWord(slot.word.load(Ordering::Relaxed));
        if !claim(slot, w, op) {
            return None;
        }
        if w.kind() == Kind::Free {
            let (wi, bit) = bit_of(index as u32);
            if let Some(b) = bits.get(wi) {
                b.fetch_and(!bit, Ordering::Relaxed);
            }
        }
        Some(index as u32)
    })
}

/// Makes slot `index` announced free with word `free` (which the caller,
/// who owns the slot, gives up): bit first, then the word.
pub(crate) fn announce(bits: &[AtomicU64], slot: &TicketSlot, index: u32, free: TicketWord) {
    let (wi, bit) = bit_of(index);
    if let Some(b) = bits.get(wi) {
        // Relaxed: a hint, set before the word is free (see the module docs).
        b.fetch_or(bit, Ordering::Relaxed);
    }
    // Release pairs with the Acquire in `claim`: whoever claims the slot
    // sees everything we did to it.
    slot.word.store(free.freed().0, Ordering::Release);
}

/// Returns slot `index`, which the caller (operator `op`) owns with claimed
/// word `owned` and no longer uses, for reuse: parked for this thread if it
/// has no parked slot in this table yet, else announced in the bitmap.
#[inline]
pub(crate) fn give_back(
    table: usize,
    bits: &[AtomicU64],
    slots: &[TicketSlot],
    index: u32,
    owned: TicketWord,
    op: u32,
) {
    let Some(slot) = slots.get(index as usize) else {
        debug_assert!(false, "give_back of out-of-range slot {index}");
        return;
    };
    let mine = PARKED.with(|p| p.get().0 == table);
    if mine {
        announce(bits, slot, index, owned);
        return;
    }
    let parked = owned.parked(op);
    // Release pairs with the Acquire CAS in `claim`. The slot is ours alone
    // until this store (nobody else writes a claimed word of a live
    // operator), so a plain store suffices.
    slot.word.store(parked.0, Ordering::Release);
    PARKED.with(|p| p.set((table, index, parked.0)));
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn slots(n: u32) -> (Vec<AtomicU64>, Vec<TicketSlot>) {
        let bits = (0..n.div_ceil(64))
            .map(|w| {
                let left = n - w * 64;
                AtomicU64::new(if left >= 64 {
                    u64::MAX
                } else {
                    (1 << left) - 1
                })
            })
            .collect();
        (bits, (0..n).map(|_| TicketSlot::new()).collect())
    }
    fn word(s: &[TicketSlot], i: usize) -> TicketWord {
        TicketWord(s[i].word.load(Ordering::Relaxed))
    }

    #[test]
    fn claims_until_exhausted_and_announces_back() {
        let (bits, s) = slots(70);
        let mut got: Vec<u32> = (0..70).map(|_| take(9, &bits, &s, 3).unwrap()).collect();
        assert_eq!(take(9, &bits, &s, 3), None);
        assert_eq!(steal(&bits, &s, 3), None);
        got.sort();
        assert_eq!(got, (0..70).collect::<Vec<_>>());
        assert!(bits.iter().all(|b| b.load(Ordering::Relaxed) == 0));
        assert_eq!(word(&s, 5).kind(), Kind::Claimed);
        assert_eq!(word(&s, 5).operator(), 3);
        announce(&bits, &s[65], 65, word(&s, 65));
        assert_eq!(bits[1].load(Ordering::Relaxed), 2);
        assert_eq!(take(9, &bits, &s, 4), Some(65));
        assert_eq!(word(&s, 65).operator(), 4);
    }

    #[test]
    fn parked_slots_come_back_to_their_thread_or_are_stolen() {
        let (bits, s) = slots(2);
        assert!(take(7, &bits, &s, 1).is_some());
        assert!(take(7, &bits, &s, 1).is_some());
        assert_eq!(take(7, &bits, &s, 1), None);
        give_back(7, &bits, &s, 1, word(&s, 1), 1);
        assert_eq!(word(&s, 1).kind(), Kind::Parked);
        // A second give-back while one is parked is announced.
        give_back(7, &bits, &s, 0, word(&s, 0), 1);
        assert_eq!(word(&s, 0).kind(), Kind::Free);
        assert_eq!(take(7, &bits, &s, 1), Some(1), "the parked slot first");
        assert_eq!(take(7, &bits, &s, 1), Some(0));
        // Parked for table 7, wanted by table 8: only stealing finds it.
        give_back(7, &bits, &s, 1, word(&s, 1), 1);
        assert_eq!(take(8, &bits, &s, 2), None);
        assert_eq!(steal(&bits, &s, 2), Some(1));
        assert_eq!(word(&s, 1).kind(), Kind::Claimed);
        assert_eq!(steal(&bits, &s, 2), None);
        // The stale hint of table 7 fails its claim and falls through.
        assert_eq!(take(7, &bits, &s, 1), None);
    }

    #[test]
    fn threads_never_share_a_slot() {
        use std::sync::atomic::AtomicBool;
        let (bits, s) = slots(8);
        let owned: Vec<AtomicBool> = (0..8).map(|_| AtomicBool::new(false)).collect();
        std::thread::scope(|sc| {
            for t in 0..4u32 {
                let (bits, s, owned) = (&bits, &s, &owned);
                sc.spawn(move || {
                    for _ in 0..20_000 {
                        if let Some(i) = take(100 + t as usize, bits, s, t + 1) {
                            assert!(!owned[i as usize].swap(true, Ordering::Relaxed));
                            owned[i as usize].store(false, Ordering::Relaxed);
                            let w = TicketWord(s[i as usize].word.load(Ordering::Relaxed));
                            give_back(100 + t as usize, bits, s, i, w, t + 1);
                        }
                    }
                });
            }
        });
        let mut n = 0;
        while steal(&bits, &s, 9).is_some() {
            n += 1;
        }
        assert_eq!(n, 8);
    }
}
