//! The two header words of lease sweeps: the *hint* (the earliest deadline a
//! sweep could find) and the *sweep lease* (who is rebuilding the hint).
//!
//! Hint: | 0..20 seq | 20..64 ms |: `ms` is a lower bound of every live
//! deadline (ms on the table clock; all ones = none), `seq` the lease
//! sequence number of the sweep that last reset it.
//!
//! Lease: | 0..32 seq | 32..63 holder | 63 held |: a sweep takes the lease
//! with one compare-and-swap that also advances `seq`, so a sweeper that
//! stalled and lost its lease can tell, from the hint's `seq`, that a newer
//! sweep reset the hint after it, and never resets it again (see
//! `crate::table::reclaim`).

use super::field::{fills_word, Field};

const H_SEQ: Field = Field::first(20);
const H_MS: Field = Field::after(H_SEQ, 44);
const L_SEQ: Field = Field::first(32);
const L_HOLDER: Field = Field::after(L_SEQ, 31);
const L_HELD: Field = Field::after(L_HOLDER, 1);

const _: () = {
    assert!(fills_word(&[H_SEQ, H_MS]));
    assert!(fills_word(&[L_SEQ, L_HOLDER, L_HELD]));
};

/// Hint value meaning "no ticket can expire".
pub(crate) const NO_DEADLINE: u64 = H_MS.max();
/// Bits of an operator reference the lease can hold.
pub(crate) const HOLDER_BITS: u32 = L_HOLDER.width();

/// The hint word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hint(pub(crate) u64);

impl Hint {
    pub(crate) const fn new(ms: u64, seq: u32) -> Hint {
        let ms = if ms > H_MS.max() { H_MS.max() } else { ms };
        Hint(H_MS.set(H_SEQ.set(0, seq as u64 & H_SEQ.max()), ms))
    }
    #[inline]
    pub(crate) const fn ms(self) -> u64 {
        H_MS.get(self.0)
    }
    #[inline]
    pub(crate) const fn seq(self) -> u32 {
        H_SEQ.get(self.0) as u32
    }
    /// The same hint lowered to `ms` if that is lower.
    pub(crate) const fn lowered(self, ms: u64) -> Hint {
        if ms < self.ms() {
            Hint::new(ms, self.seq())
        } else {
            self
        }
    }
    /// `true` when lease sequence number `seq` is newer than the one that
    /// last reset this hint (modulo wrapping of the hint's 20 bits).
    pub(crate) const fn reset_by_older_than(self, seq: u32) -> bool {
        let d = (seq as u64).wrapping_sub(self.seq() as u64) & H_SEQ.max();
        d != 0 && d <= H_SEQ.max() / 2
    }
}

/// The sweep lease word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lease(pub(crate) u64);

impl Lease {
    #[inline]
    pub(crate) const fn held(self) -> bool {
        L_HELD.get(self.0) == 1
    }
    #[inline]
    pub(crate) const fn holder(self) -> u32 {
        L_HOLDER.get(self.0) as u32
    }
    #[inline]
    pub(crate) const fn seq(self) -> u32 {
        L_SEQ.get(self.0) as u32
    }
    /// The lease taken by `holder` after this one: next sequence number.
    pub(crate) const fn taken_by(self, holder: u32) -> Lease {
        let w = L_SEQ.set(0, (self.seq() as u64 + 1) & L_SEQ.max());
        let w = L_HOLDER.set(w, holder as u64 & L_HOLDER.max());
        Lease(L_HELD.set(w, 1))
    }
    /// This lease given back (the sequence number stays).
    pub(crate) const fn released(self) -> Lease {
        Lease(L_SEQ.set(0, self.seq() as u64))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn hint_and_lease() {
        let h = Hint::new(NO_DEADLINE, 5);
        assert_eq!((h.ms(), h.seq()), (NO_DEADLINE, 5));
        assert_eq!(h.lowered(10).ms(), 10);
        assert_eq!(h.lowered(10).seq(), 5);
        assert!(h.reset_by_older_than(6));
        assert!(!h.reset_by_older_than(5));
        assert!(!h.reset_by_older_than(4));
        assert!(Hint::new(1, (1 << 20) - 1).reset_by_older_than(0));
        let l = Lease(0).taken_by(9);
        assert!(l.held());
        assert_eq!((l.holder(), l.seq()), (9, 1));
        let r = l.released();
        assert!(!r.held());
        assert_eq!(r.taken_by(3).seq(), 2);
        assert_eq!(Lease(u64::MAX).taken_by(1).seq(), 0);
    }
}
