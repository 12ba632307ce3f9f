//! An engine word in *descriptor* form: "ticket slot `slot` is moving this
//! engine's counts (move `mv` of its ticket generation `gen`)".
//!
//! A shared table moves an engine's counts for a ticket in steps that a
//! crash can interrupt; the descriptor makes the one step that decides
//! whether the move happens — the compare-and-swap that installs it — leave
//! evidence that survives until the move is complete:
//!
//! | bits    | width | field    | value                                            |
//! |---------|-------|----------|--------------------------------------------------|
//! | 0..11   | 11    | capacity | 0                                                |
//! | 11..31  | 20    | slot     | the ticket slot whose intent record holds the move |
//! | 31..60  | 29    | gen      | the slot's ticket generation                     |
//! | 60      | 1     | external | the drop keeps its unit as external load ([`Move::ActiveToExternal`]) |
//! | 61      | 1     | draining | 1 (with capacity 0: never an engine state)       |
//! | 62..64  | 2     | move     | [`Move`]                                         |
//!
//! `(slot, gen, move)` is unique over a table's life (each ticket generation
//! admits, commits and drops at most once; a step undone by the holder scan
//! never installed its descriptor), so a helper that read a descriptor long
//! ago can never complete a later move by mistake.

use super::engine_word::{EngineWord, CAPACITY, DRAINING};
use super::field::{fills_word, Field};

const D_CAPACITY: Field = Field::first(11);
const D_SLOT: Field = Field::after(D_CAPACITY, 20);
const D_GEN: Field = Field::after(D_SLOT, 29);
const D_EXTERNAL: Field = Field::after(D_GEN, 1);
const D_DRAINING: Field = Field::after(D_EXTERNAL, 1);
const D_MOVE: Field = Field::after(D_DRAINING, 2);

const _: () = {
    assert!(fills_word(&[
        D_CAPACITY, D_SLOT, D_GEN, D_EXTERNAL, D_DRAINING, D_MOVE
    ]));
    // The marker bits are the engine word's own capacity and draining bits.
    assert!(D_CAPACITY.mask() == CAPACITY.mask());
    assert!(D_DRAINING.mask() == DRAINING.mask());
    // Every ticket slot index and generation fits.
    assert!(D_SLOT.max() >= crate::bits::handle::MAX_TICKETS as u64 - 1);
    assert!(D_GEN.width() == crate::bits::ticket_word::GENERATION.width());
};

/// A change of an engine's counts on behalf of one ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Move {
    /// Admission: one more pending.
    Admit = 0,
    /// Commit: one pending becomes active.
    Commit = 1,
    /// Cancel or expiry of a pending ticket.
    DropPending = 2,
    /// Release or expiry of an active ticket.
    DropActive = 3,
    /// Release of an active ticket whose unit stays on the engine as
    /// external load (`Table::release_as_external`): the ticket's side is
    /// that of [`Move::DropActive`]; the descriptor says which with its
    /// `external` bit.
    ActiveToExternal = 4,
}

impl Move {
    /// The engine word after the move, if the move applies to `w`.
    #[inline]
    pub(crate) const fn apply(self, w: EngineWord) -> Option<EngineWord> {
        match self {
            Move::Admit => w.admit(),
            Move::Commit => w.commit(),
            Move::DropPending => w.drop_pending(),
            Move::DropActive => w.drop_active(),
            Move::ActiveToExternal => w.active_to_external(),
        }
    }
    /// The step the ticket word shows while this move is in flight (a
    /// ticket's kinds tell the four ticket-side steps apart, not what the
    /// engine does with a dropped unit).
    pub(crate) const fn ticket_step(self) -> Move {
        match self {
            Move::ActiveToExternal => Move::DropActive,
            m => m,
        }
    }
    const fn from_bits(b: u64) -> Move {
        match b & 3 {
            0 => Move::Admit,
            1 => Move::Commit,
            2 => Move::DropPending,
            _ => Move::DropActive,
        }
    }
}

/// A decoded descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Desc {
    pub(crate) slot: u32,
    pub(crate) gen: u32,
    pub(crate) mv: Move,
}

impl Desc {
    /// The engine word that holds this descriptor.
    pub(crate) const fn word(self) -> u64 {
        let w = D_SLOT.set(0, self.slot as u64);
        let w = D_GEN.set(w, self.gen as u64 & D_GEN.max());
        let w = D_DRAINING.set(w, 1);
        let w = D_EXTERNAL.set(w, matches!(self.mv, Move::ActiveToExternal) as u64);
        D_MOVE.set(w, self.mv.ticket_step() as u64)
    }
    /// The descriptor in engine word `w`, if it is one.
    #[inline]
    pub(crate) const fn decode(w: u64) -> Option<Desc> {
        if D_CAPACITY.get(w) != 0 || D_DRAINING.get(w) == 0 {
            return None;
        }
        Some(Desc {
            slot: D_SLOT.get(w) as u32,
            gen: D_GEN.get(w) as u32,
            mv: match (Move::from_bits(D_MOVE.get(w)), D_EXTERNAL.get(w)) {
                (Move::DropActive, 1) => Move::ActiveToExternal,
                (m, _) => m,
            },
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::bits::engine_word::EngineState;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(slot in 0u32..(1 << 20), gen in 0u32..(1 << 29), mv in 0u64..5, cap in 1u32..2048) {
            let mv = if mv == 4 { Move::ActiveToExternal } else { Move::from_bits(mv) };
            let d = Desc { slot, gen, mv };
            prop_assert_eq!(Desc::decode(d.word()), Some(d));
            let w = EngineWord(d.word());
            prop_assert_eq!(w.state(), EngineState::Invalid);
            prop_assert!(!w.has_room() && !w.is_registered());
            // No engine state is a descriptor.
            let live = EngineWord::live(gen as u16, cap);
            prop_assert_eq!(live.desc(), None);
            prop_assert_eq!(live.draining().desc(), None);
            prop_assert_eq!(EngineWord::free(gen as u16).desc(), None);
        }
    }
}
