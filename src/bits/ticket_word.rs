//! The packed per-ticket word.
//!
//! | bits    | width | field      | meaning                                             |
//! |---------|-------|------------|-----------------------------------------------------|
//! | 0..32   | 32    | deadline   | lease deadline, wrapping milliseconds on the clock  |
//! | 32..61  | 29    | generation | incarnation; tickets (handles) carry it             |
//! | 61..63  | 2     | state      | 0 free, 1 pending, 2 active                         |
//! | 63      | 1     | busy       | a commit is moving the engine's counts; on a free   |
//! |         |       |            | word: "parked" (see [`crate::protocol::freelist`])          |
//!
//! A free word holds the generation its *next* ticket will carry. Finishing a
//! ticket (commit failure, cancel, release, expiry) stores a free word with
//! the generation advanced, which makes every handle to it stale at once.
//! State, generation and deadline share one word so that "is it still this
//! ticket, in this state, before its deadline?" and the transition are one
//! compare-and-swap: touch and expiry cannot both win.

use super::field::{fills_word, Field};

const DEADLINE: Field = Field::first(32);
pub(crate) const GENERATION: Field = Field::after(DEADLINE, 29);
const STATE: Field = Field::after(GENERATION, 2);
const BUSY: Field = Field::after(STATE, 1);

const _: () = assert!(fills_word(&[DEADLINE, GENERATION, STATE, BUSY]));

/// State of a ticket slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TicketState {
    Free,
    Pending,
    Active,
    /// Never written (a corrupt shared file only).
    Invalid,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TicketWord(pub(crate) u64);

impl std::fmt::Debug for TicketWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketWord")
            .field("state", &self.state())
            .field("busy", &self.busy())
            .field("gen", &self.generation())
            .field("deadline", &self.deadline())
            .finish()
    }
}

impl TicketWord {
    #[inline]
    pub(crate) const fn state(self) -> TicketState {
        match STATE.get(self.0) {
            0 => TicketState::Free,
            1 => TicketState::Pending,
            2 => TicketState::Active,
            _ => TicketState::Invalid,
        }
    }
    #[inline]
    pub(crate) const fn busy(self) -> bool {
        BUSY.get(self.0) == 1
    }
    #[inline]
    pub(crate) const fn generation(self) -> u32 {
        GENERATION.get(self.0) as u32
    }
    #[inline]
    pub(crate) const fn deadline(self) -> u32 {
        DEADLINE.get(self.0) as u32
    }
    /// `true` when this is exactly ticket `gen` in `state`, not mid-commit.
    #[inline]
    pub(crate) fn is(self, state: TicketState, gen: u32) -> bool {
        !self.busy() && self.state() == state && self.generation() == gen
    }
    /// A pending ticket of generation `gen`.
    pub(crate) const fn pending(gen: u32, deadline: u32) -> TicketWord {
        let w = GENERATION.set(0, gen as u64);
        let w = STATE.set(w, 1);
        TicketWord(DEADLINE.set(w, deadline as u64))
    }
    /// The same ticket, active, with a new deadline, marked busy or not.
    pub(crate) const fn active(self, deadline: u32, busy: bool) -> TicketWord {
        let w = STATE.set(self.0, 2);
        let w = BUSY.set(w, busy as u64);
        TicketWord(DEADLINE.set(w, deadline as u64))
    }
    /// The same ticket with a new deadline.
    pub(crate) const fn with_deadline(self, deadline: u32) -> TicketWord {
        TicketWord(DEADLINE.set(self.0, deadline as u64))
    }
    /// This free word, parked: kept off the free list for the thread that
    /// freed it, and free for anyone to claim with a compare-and-swap.
    pub(crate) const fn parked(self) -> TicketWord {
        TicketWord(BUSY.set(self.0, 1))
    }
    /// A parked free word (see [`TicketWord::parked`]).
    #[inline]
    pub(crate) fn is_parked(self) -> bool {
        self.busy() && self.state() == TicketState::Free
    }
    /// The parked word claimed: plain free, owned by the claimer.
    pub(crate) const fn unparked(self) -> TicketWord {
        TicketWord(BUSY.set(self.0, 0))
    }
    /// The free word that follows this ticket: next generation, no state.
    pub(crate) const fn finished(self) -> TicketWord {
        let next = (self.generation() as u64 + 1) & GENERATION.max();
        TicketWord(GENERATION.set(0, next))
    }
}

/// Packs an engine reference (slot index, engine generation) into the
/// ticket's `engine` field.
#[inline]
pub(crate) const fn pack_engine_ref(index: u32, gen: u16) -> u32 {
    (index & 0xFFFF) | ((gen as u32) << 16)
}

/// Unpacks [`pack_engine_ref`].
#[inline]
pub(crate) const fn unpack_engine_ref(r: u32) -> (u32, u16) {
    (r & 0xFFFF, (r >> 16) as u16)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    const TICKET_GEN_MAX: u32 = GENERATION.max() as u32;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(gen in 0u32..=TICKET_GEN_MAX, d1: u32, d2: u32, busy: bool,
                      idx in 0u32..65_535, egen: u16) {
            let p = TicketWord::pending(gen, d1);
            prop_assert!(p.is(TicketState::Pending, gen));
            prop_assert_eq!(p.deadline(), d1);
            let a = p.active(d2, busy);
            prop_assert_eq!(a.state(), TicketState::Active);
            prop_assert_eq!(a.busy(), busy);
            prop_assert_eq!(a.generation(), gen);
            prop_assert_eq!(a.deadline(), d2);
            prop_assert_eq!(a.with_deadline(d1).deadline(), d1);
            let f = a.finished();
            prop_assert_eq!(f.state(), TicketState::Free);
            prop_assert!(!f.busy());
            prop_assert!(!f.is_parked() && f.parked().is_parked());
            prop_assert_eq!(f.parked().unparked(), f);
            prop_assert_eq!(f.parked().generation(), f.generation());
            prop_assert!(!f.parked().is(TicketState::Free, f.generation()));
            prop_assert_eq!(f.generation(), (gen + 1) & TICKET_GEN_MAX);
            prop_assert_eq!(unpack_engine_ref(pack_engine_ref(idx, egen)), (idx, egen));
        }
    }
}
