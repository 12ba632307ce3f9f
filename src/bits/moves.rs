//! The moves of an engine's counts on behalf of one ticket: what a
//! reserve, commit, cancel, release or expiry does to an engine word, named
//! so that a ticket word (`ticket_word`) and an engine descriptor (`desc`)
//! can record a move in flight.

use super::engine_word::EngineWord;

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
    /// The move stored in a descriptor's 2-bit field (`ActiveToExternal`
    /// is `DropActive` plus the descriptor's `external` bit).
    pub(crate) const fn from_bits(b: u64) -> Move {
        match b & 3 {
            0 => Move::Admit,
            1 => Move::Commit,
            2 => Move::DropPending,
            _ => Move::DropActive,
        }
    }
}
