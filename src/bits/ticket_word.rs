//! The packed per-ticket word.
//!
//! | bits    | width | field      | meaning                                              |
//! |---------|-------|------------|------------------------------------------------------|
//! | 0..32   | 32    | aux        | pending/active: lease deadline (wrapping ms); in     |
//! |         |       |            | flight or parked: the operator (registry reference)  |
//! | 32..61  | 29    | generation | incarnation; tickets (handles) carry it              |
//! | 61..64  | 3     | kind       | see [`Kind`]                                         |
//!
//! A free word holds the generation its *next* ticket will carry. Finishing a
//! ticket advances the generation, which makes every handle to it stale at
//! once. Kind, generation and deadline share one word so that "is it still
//! this ticket, in this state, before its deadline?" and the transition are
//! one compare-and-swap: touch and expiry cannot both win.
//!
//! Every step between two published states is a kind of its own that names
//! its operator (the process, through its registry reference, that is
//! moving the slot), so the holder scan can finish or undo the step of an
//! operator that died (see `crate::table::intent`).

use super::desc::Move;
use super::field::{fills_word, Field};

const AUX: Field = Field::first(32);
pub(crate) const GENERATION: Field = Field::after(AUX, 29);
const KIND: Field = Field::after(GENERATION, 3);

const _: () = assert!(fills_word(&[AUX, GENERATION, KIND]));

/// What a ticket slot is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Free, announced in the free bitmap.
    Free = 0,
    /// A reserved ticket (aux: deadline).
    Pending = 1,
    /// A committed ticket (aux: deadline).
    Active = 2,
    /// Owned by its operator with no engine count attached: taken for a
    /// reservation (whose admission may be in flight), or finished and on
    /// its way back to the free slots.
    Claimed = 3,
    /// Free, kept by the thread that freed it for its next reservation
    /// (aux: that thread's operator); anyone may claim it.
    Parked = 4,
    /// A commit is moving the engine's count from pending to active.
    Committing = 5,
    /// A pending ticket is being finished (cancel, expiry, reclaim).
    FinishingPending = 6,
    /// An active ticket is being finished (release, expiry, reclaim).
    FinishingActive = 7,
}

/// The ticket states [`crate::TicketCounts`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TicketState {
    Free,
    Pending,
    Active,
    /// Between two published states, owned by an operator.
    InFlight,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TicketWord(pub(crate) u64);

impl std::fmt::Debug for TicketWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketWord")
            .field("kind", &self.kind())
            .field("gen", &self.generation())
            .field("aux", &self.aux())
            .finish()
    }
}

impl TicketWord {
    const fn make(kind: Kind, gen: u32, aux: u32) -> TicketWord {
        let w = AUX.set(0, aux as u64);
        let w = GENERATION.set(w, gen as u64 & GENERATION.max());
        TicketWord(KIND.set(w, kind as u64))
    }
    #[inline]
    pub(crate) const fn kind(self) -> Kind {
        match KIND.get(self.0) {
            0 => Kind::Free,
            1 => Kind::Pending,
            2 => Kind::Active,
            3 => Kind::Claimed,
            4 => Kind::Parked,
            5 => Kind::Committing,
            6 => Kind::FinishingPending,
            _ => Kind::FinishingActive,
        }
    }
    /// The coarse state for counts.
    #[inline]
    pub(crate) const fn state(self) -> TicketState {
        match self.kind() {
            Kind::Free | Kind::Parked => TicketState::Free,
            Kind::Pending => TicketState::Pending,
            Kind::Active => TicketState::Active,
            _ => TicketState::InFlight,
        }
    }
    #[inline]
    pub(crate) const fn generation(self) -> u32 {
        GENERATION.get(self.0) as u32
    }
    #[inline]
    const fn aux(self) -> u32 {
        AUX.get(self.0) as u32
    }
    /// The lease deadline of a pending or active ticket.
    #[inline]
    pub(crate) const fn deadline(self) -> u32 {
        self.aux()
    }
    /// The operator of an in-flight or parked word.
    #[inline]
    pub(crate) const fn operator(self) -> u32 {
        self.aux()
    }
    /// `true` when this is exactly ticket `gen` in `kind` (pending/active).
    #[inline]
    pub(crate) fn is(self, kind: Kind, gen: u32) -> bool {
        self.kind() == kind && self.generation() == gen
    }
    /// A free word whose next ticket carries `gen`.
    pub(crate) const fn free(gen: u32) -> TicketWord {
        TicketWord::make(Kind::Free, gen, 0)
    }
    /// A pending ticket of generation `gen`.
    pub(crate) const fn pending(gen: u32, deadline: u32) -> TicketWord {
        TicketWord::make(Kind::Pending, gen, deadline)
    }
    /// The same ticket, active, with lease deadline `deadline`.
    pub(crate) const fn active(self, deadline: u32) -> TicketWord {
        TicketWord::make(Kind::Active, self.generation(), deadline)
    }
    /// The same ticket, pending, with lease deadline `deadline` (a commit
    /// undone by the holder scan).
    pub(crate) const fn repending(self, deadline: u32) -> TicketWord {
        TicketWord::make(Kind::Pending, self.generation(), deadline)
    }
    /// The same ticket with a new deadline.
    pub(crate) const fn with_deadline(self, deadline: u32) -> TicketWord {
        TicketWord(AUX.set(self.0, deadline as u64))
    }
    /// This slot owned by `op`, same generation.
    pub(crate) const fn claimed(self, op: u32) -> TicketWord {
        TicketWord::make(Kind::Claimed, self.generation(), op)
    }
    /// This free slot parked by `op`.
    pub(crate) const fn parked(self, op: u32) -> TicketWord {
        TicketWord::make(Kind::Parked, self.generation(), op)
    }
    /// This free slot, plain free (announced in the bitmap).
    pub(crate) const fn freed(self) -> TicketWord {
        TicketWord::free(self.generation())
    }
    /// A free or parked word anyone may claim.
    #[inline]
    pub(crate) fn is_claimable(self) -> bool {
        matches!(self.kind(), Kind::Free | Kind::Parked)
    }
    /// This pending ticket being committed by `op`.
    pub(crate) const fn committing(self, op: u32) -> TicketWord {
        TicketWord::make(Kind::Committing, self.generation(), op)
    }
    /// This pending or active ticket being finished by `op`.
    pub(crate) fn finishing(self, op: u32) -> TicketWord {
        let kind = match self.kind() {
            Kind::Pending => Kind::FinishingPending,
            _ => Kind::FinishingActive,
        };
        TicketWord::make(kind, self.generation(), op)
    }
    /// The claimed word that follows this ticket: next generation, owned by
    /// `op` until it is given back to the free slots.
    pub(crate) const fn finished(self, op: u32) -> TicketWord {
        TicketWord::make(Kind::Claimed, self.generation() + 1, op)
    }
    /// The engine move an in-flight word is making, if any; the move's tag
    /// (see [`crate::bits::desc`]) is this and the generation.
    #[inline]
    pub(crate) const fn in_flight(self) -> Option<Move> {
        match self.kind() {
            Kind::Claimed => Some(Move::Admit),
            Kind::Committing => Some(Move::Commit),
            Kind::FinishingPending => Some(Move::DropPending),
            Kind::FinishingActive => Some(Move::DropActive),
            _ => None,
        }
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
        fn round_trip(gen in 0u32..=TICKET_GEN_MAX, d1: u32, d2: u32, op: u32,
                      idx in 0u32..65_535, egen: u16) {
            let p = TicketWord::pending(gen, d1);
            prop_assert!(p.is(Kind::Pending, gen));
            prop_assert_eq!(p.deadline(), d1);
            let a = p.committing(op);
            prop_assert_eq!(a.kind(), Kind::Committing);
            prop_assert_eq!(a.operator(), op);
            prop_assert_eq!(a.in_flight(), Some(Move::Commit));
            let a = a.active(d2);
            prop_assert_eq!(a.state(), TicketState::Active);
            prop_assert_eq!(a.generation(), gen);
            prop_assert_eq!(a.deadline(), d2);
            prop_assert_eq!(a.with_deadline(d1).deadline(), d1);
            prop_assert_eq!(a.finishing(op).in_flight(), Some(Move::DropActive));
            prop_assert_eq!(p.finishing(op).in_flight(), Some(Move::DropPending));
            let f = a.finished(op);
            prop_assert_eq!(f.kind(), Kind::Claimed);
            prop_assert_eq!(f.state(), TicketState::InFlight);
            prop_assert_eq!(f.generation(), (gen + 1) & TICKET_GEN_MAX);
            prop_assert!(f.parked(op).is_claimable() && f.freed().is_claimable());
            prop_assert_eq!(f.parked(op).state(), TicketState::Free);
            prop_assert_eq!(f.parked(op).claimed(7).operator(), 7);
            prop_assert_eq!(unpack_engine_ref(pack_engine_ref(idx, egen)), (idx, egen));
        }
    }
}
