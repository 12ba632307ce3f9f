//! Generation-tagged handles: the `u64` values callers hold.
//!
//! | handle   | bits 0..  | next                | next                  | top                     |
//! |----------|-----------|---------------------|-----------------------|-------------------------|
//! | engine   | index: 16 | generation: 16      | table tag: 16         | marker `0x0E5E`: 16     |
//! | ticket   | index: 20 | generation: 29      | table tag: 15 (non-0) |                         |
//!
//! The generation must match the slot's current generation for a handle to
//! act, so a finished ticket or a removed engine is stale forever (until its
//! slot's generation wraps: 65 536 removals of one engine slot, 2^29 reuses
//! of one ticket slot). The table tag, random per table, makes handles of
//! another table stale too. Neither kind of handle is ever 0.

use super::field::{fills_word, Field};

const E_INDEX: Field = Field::first(16);
const E_GEN: Field = Field::after(E_INDEX, 16);
const E_TAG: Field = Field::after(E_GEN, 16);
const E_MARK: Field = Field::after(E_TAG, 16);
const ENGINE_MARKER: u64 = 0x0E5E;

const T_INDEX: Field = Field::first(20);
const T_GEN: Field = Field::after(T_INDEX, 29);
const T_TAG: Field = Field::after(T_GEN, 15);

const _: () = {
    assert!(fills_word(&[E_INDEX, E_GEN, E_TAG, E_MARK]));
    assert!(fills_word(&[T_INDEX, T_GEN, T_TAG]));
    // A ticket handle carries the whole generation of its slot's word, and
    // an engine handle the whole generation of its engine word.
    assert!(T_GEN.width() == crate::bits::ticket_word::GENERATION.width());
    assert!(E_GEN.width() == crate::bits::engine_word::GENERATION_BITS);
    // Every index a table can have fits its handle's field.
    assert!(MAX_TICKETS as u64 - 1 <= T_INDEX.max());
    assert!(MAX_ENGINES as u64 - 1 <= E_INDEX.max());
};

/// Bits of generation a ticket slot carries (in its word and its handles).
#[cfg(test)]
pub(crate) const TICKET_GEN_MAX: u32 = T_GEN.max() as u32;
/// Most ticket slots a table can have (the index field's range).
pub const MAX_TICKETS: u32 = 1 << 20;
/// Most engine slots a table can have.
pub const MAX_ENGINES: u32 = 65_535;

/// A handle to a registered engine. 0 is never a valid handle.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Engine(u64);

/// A handle to one stream's claim on one engine. 0 is never a valid handle.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(u64);

impl Engine {
    /// Rebuilds a handle from [`Engine::raw`]. Any value is accepted; one
    /// that is not a live handle of the table it is used with is
    /// [`Error::Stale`](crate::Error::Stale) there.
    pub const fn from_raw(raw: u64) -> Engine {
        Engine(raw)
    }
    /// The handle as the `u64` the C ABI passes around.
    pub const fn raw(self) -> u64 {
        self.0
    }
    pub(crate) const fn pack(tag: u16, index: u32, gen: u16) -> Engine {
        let h = E_INDEX.set(0, index as u64);
        let h = E_GEN.set(h, gen as u64);
        let h = E_TAG.set(h, tag as u64);
        Engine(E_MARK.set(h, ENGINE_MARKER))
    }
    /// `(index, generation)` if the handle carries this table's tag.
    #[inline]
    pub(crate) const fn unpack(self, tag: u16) -> Option<(u32, u16)> {
        if E_MARK.get(self.0) != ENGINE_MARKER || E_TAG.get(self.0) != tag as u64 {
            return None;
        }
        Some((E_INDEX.get(self.0) as u32, E_GEN.get(self.0) as u16))
    }
}

impl Ticket {
    /// Rebuilds a handle from [`Ticket::raw`]; see [`Engine::from_raw`].
    pub const fn from_raw(raw: u64) -> Ticket {
        Ticket(raw)
    }
    /// The handle as the `u64` the C ABI passes around.
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// The 15-bit tag tickets of a table carry: never 0, so no ticket is 0.
    pub(crate) const fn tag_of(table_tag: u16) -> u16 {
        let t = table_tag & (T_TAG.max() as u16);
        if t == 0 {
            1
        } else {
            t
        }
    }
    pub(crate) const fn pack(tag: u16, index: u32, gen: u32) -> Ticket {
        let h = T_INDEX.set(0, index as u64);
        let h = T_GEN.set(h, gen as u64);
        Ticket(T_TAG.set(h, Ticket::tag_of(tag) as u64))
    }
    /// `(index, generation)` if the handle carries this table's tag.
    #[inline]
    pub(crate) const fn unpack(self, tag: u16) -> Option<(u32, u32)> {
        if T_TAG.get(self.0) != Ticket::tag_of(tag) as u64 {
            return None;
        }
        Some((T_INDEX.get(self.0) as u32, T_GEN.get(self.0) as u32))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn engine_round_trip(tag: u16, idx in 0u32..MAX_ENGINES, gen: u16, other: u16) {
            let h = Engine::pack(tag, idx, gen);
            prop_assert_ne!(h.raw(), 0);
            prop_assert_eq!(h.unpack(tag), Some((idx, gen)));
            prop_assert_eq!(Engine::from_raw(h.raw()), h);
            if other != tag { prop_assert_eq!(h.unpack(other), None); }
        }

        #[test]
        fn ticket_round_trip(tag: u16, idx in 0u32..MAX_TICKETS, gen in 0u32..=TICKET_GEN_MAX) {
            let h = Ticket::pack(tag, idx, gen);
            prop_assert_ne!(h.raw(), 0);
            prop_assert_eq!(h.unpack(tag), Some((idx, gen)));
        }
    }

    #[test]
    fn zero_is_never_valid() {
        for tag in [0u16, 1, 0x7FFF, 0x8000, 0xFFFF] {
            assert_eq!(Engine::from_raw(0).unpack(tag), None);
            assert_eq!(Ticket::from_raw(0).unpack(tag), None);
        }
    }
}
