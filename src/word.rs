//! The packed per-engine admission word.
//!
//! Everything admission reads lives in one `u64`, so that "is there room on
//! this engine?" and "take a slot on it" are a single compare-and-swap:
//!
//! | bits    | width | field      | meaning                                         |
//! |---------|-------|------------|-------------------------------------------------|
//! | 0..11   | 11    | capacity   | most streams admitted at once (1..=2047)        |
//! | 11..22  | 11    | active     | committed tickets                               |
//! | 22..33  | 11    | pending    | reserved, not yet committed tickets             |
//! | 33..44  | 11    | external   | streams owned by others (saturates at 2047)     |
//! | 44..60  | 16    | generation | bumped on removal; tags engine handles, tickets |
//! | 60..62  | 2     | state      | 0 free, 1 live, 2 draining                      |
//! | 62      | 1     | healthy    | preference only; unhealthy is still admissible  |
//! | 63      | 1     | (unused)   | always 0                                        |
//!
//! Admission keeps `active + pending + external <= capacity <= 2047` at the
//! moment a ticket is admitted, and commit only moves one unit from pending
//! to active, so `active + pending` never exceeds 2047 and no field overflows.

/// One bit field of a packed word: `width` bits starting at `shift`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    shift: u32,
    width: u32,
}

impl Field {
    pub(crate) const fn new(shift: u32, width: u32) -> Field {
        Field { shift, width }
    }
    /// Largest value the field holds.
    pub(crate) const fn max(self) -> u64 {
        (1u64 << self.width) - 1
    }
    const fn mask(self) -> u64 {
        self.max() << self.shift
    }
    /// The field's value in `word`.
    #[inline]
    pub(crate) const fn get(self, word: u64) -> u64 {
        (word >> self.shift) & self.max()
    }
    /// `word` with the field set to `value` (which must fit).
    #[inline]
    pub(crate) const fn set(self, word: u64, value: u64) -> u64 {
        debug_assert!(value <= self.max());
        (word & !self.mask()) | ((value & self.max()) << self.shift)
    }
}

const CAPACITY: Field = Field::new(0, 11);
const ACTIVE: Field = Field::new(11, 11);
const PENDING: Field = Field::new(22, 11);
const EXTERNAL: Field = Field::new(33, 11);
const GENERATION: Field = Field::new(44, 16);
const STATE: Field = Field::new(60, 2);
const HEALTHY: Field = Field::new(62, 1);

/// Largest capacity an engine can have, and the saturation point of the
/// external count.
pub const MAX_CAPACITY: u32 = CAPACITY.max() as u32;

/// Number of distinct engine generations before a slot's tag repeats.
pub(crate) const GENERATION_MAX: u16 = GENERATION.max() as u16;

/// Life-cycle state of an engine slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EngineState {
    /// No engine; the slot may be taken by `add`.
    Free,
    /// Registered and admitting.
    Live,
    /// Registered, finishing its tickets, admitting nothing new.
    Draining,
    /// A value no code writes (only a corrupt shared file has it).
    Invalid,
}

/// A decoded view of an engine word. `Copy`, cheap, and the only way the
/// algorithm code reads or writes the packed fields.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct EngineWord(pub(crate) u64);

impl std::fmt::Debug for EngineWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineWord")
            .field("state", &self.state())
            .field("gen", &self.generation())
            .field("cap", &self.capacity())
            .field("active", &self.active())
            .field("pending", &self.pending())
            .field("external", &self.external())
            .field("healthy", &self.healthy())
            .finish()
    }
}

impl EngineWord {
    /// A free slot whose next engine will carry generation `gen`.
    pub(crate) const fn free(gen: u16) -> EngineWord {
        EngineWord(GENERATION.set(0, gen as u64))
    }

    /// A newly added live, healthy engine with no load.
    pub(crate) const fn live(gen: u16, capacity: u32) -> EngineWord {
        let w = GENERATION.set(0, gen as u64);
        let w = STATE.set(w, 1);
        let w = HEALTHY.set(w, 1);
        EngineWord(CAPACITY.set(w, capacity as u64))
    }

    #[inline]
    pub(crate) const fn state(self) -> EngineState {
        match STATE.get(self.0) {
            0 => EngineState::Free,
            1 => EngineState::Live,
            2 => EngineState::Draining,
            _ => EngineState::Invalid,
        }
    }
    /// Live or draining: a registered engine whose handles are valid.
    #[inline]
    pub(crate) const fn is_registered(self) -> bool {
        matches!(self.state(), EngineState::Live | EngineState::Draining)
    }
    #[inline]
    pub(crate) const fn generation(self) -> u16 {
        GENERATION.get(self.0) as u16
    }
    #[inline]
    pub(crate) const fn capacity(self) -> u32 {
        CAPACITY.get(self.0) as u32
    }
    #[inline]
    pub(crate) const fn active(self) -> u32 {
        ACTIVE.get(self.0) as u32
    }
    #[inline]
    pub(crate) const fn pending(self) -> u32 {
        PENDING.get(self.0) as u32
    }
    #[inline]
    pub(crate) const fn external(self) -> u32 {
        EXTERNAL.get(self.0) as u32
    }
    #[inline]
    pub(crate) const fn healthy(self) -> bool {
        HEALTHY.get(self.0) == 1
    }
    /// `active + pending + external`.
    #[inline]
    pub(crate) const fn load(self) -> u32 {
        self.active() + self.pending() + self.external()
    }
    /// Live (not draining) and one more stream fits under the capacity.
    #[inline]
    pub(crate) const fn has_room(self) -> bool {
        matches!(self.state(), EngineState::Live) && self.load() < self.capacity()
    }

    /// This word with one more pending ticket, if admission allows it.
    #[inline]
    pub(crate) const fn admit(self) -> Option<EngineWord> {
        if self.has_room() {
            Some(EngineWord(PENDING.set(self.0, self.pending() as u64 + 1)))
        } else {
            None
        }
    }
    /// One pending ticket becomes active.
    #[inline]
    pub(crate) const fn commit(self) -> Option<EngineWord> {
        let p = self.pending();
        if p == 0 || self.active() as u64 >= ACTIVE.max() {
            return None;
        }
        let w = PENDING.set(self.0, p as u64 - 1);
        Some(EngineWord(ACTIVE.set(w, self.active() as u64 + 1)))
    }
    /// One pending ticket goes away (cancel or expiry).
    #[inline]
    pub(crate) const fn drop_pending(self) -> Option<EngineWord> {
        let p = self.pending();
        if p == 0 {
            return None;
        }
        Some(EngineWord(PENDING.set(self.0, p as u64 - 1)))
    }
    /// One active ticket goes away (release or expiry).
    #[inline]
    pub(crate) const fn drop_active(self) -> Option<EngineWord> {
        let a = self.active();
        if a == 0 {
            return None;
        }
        Some(EngineWord(ACTIVE.set(self.0, a as u64 - 1)))
    }
    pub(crate) const fn with_capacity(self, capacity: u32) -> EngineWord {
        EngineWord(CAPACITY.set(self.0, capacity as u64))
    }
    /// External count, saturated at [`MAX_CAPACITY`].
    pub(crate) const fn with_external(self, external: u32) -> EngineWord {
        let e = if external > MAX_CAPACITY {
            MAX_CAPACITY
        } else {
            external
        };
        EngineWord(EXTERNAL.set(self.0, e as u64))
    }
    pub(crate) const fn with_healthy(self, healthy: bool) -> EngineWord {
        EngineWord(HEALTHY.set(self.0, healthy as u64))
    }
    pub(crate) const fn draining(self) -> EngineWord {
        EngineWord(STATE.set(self.0, 2))
    }
    pub(crate) const fn undrained(self) -> EngineWord {
        EngineWord(STATE.set(self.0, 1))
    }
    /// The slot freed: counts cleared, generation advanced so every handle
    /// and ticket of the removed engine is stale.
    pub(crate) const fn removed(self) -> EngineWord {
        EngineWord::free(self.generation().wrapping_add(1) & GENERATION_MAX)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fields_round_trip(gen in 0u16.., cap in 1u32..=MAX_CAPACITY, ext in 0u32..5000,
                             healthy: bool, drain: bool) {
            let mut w = EngineWord::live(gen, cap).with_external(ext).with_healthy(healthy);
            if drain { w = w.draining(); }
            prop_assert_eq!(w.generation(), gen);
            prop_assert_eq!(w.capacity(), cap);
            prop_assert_eq!(w.external(), ext.min(MAX_CAPACITY));
            prop_assert_eq!(w.healthy(), healthy);
            prop_assert_eq!(w.state(), if drain { EngineState::Draining } else { EngineState::Live });
            prop_assert_eq!(w.active() + w.pending(), 0);
            prop_assert_eq!(w.0 >> 63, 0);
        }

        #[test]
        fn admission_never_exceeds_capacity(cap in 1u32..=MAX_CAPACITY, ext in 0u32..3000,
                                            steps in proptest::collection::vec(0u8..4, 0..200)) {
            let mut w = EngineWord::live(7, cap).with_external(ext);
            for s in steps {
                let next = match s {
                    0 => w.admit(),
                    1 => w.commit(),
                    2 => w.drop_pending(),
                    _ => w.drop_active(),
                };
                if let Some(n) = next {
                    if s == 0 { prop_assert!(n.load() <= n.capacity()); }
                    prop_assert_eq!(n.generation(), 7);
                    prop_assert_eq!(n.capacity(), cap);
                    w = n;
                }
            }
        }
    }

    #[test]
    fn removal_bumps_generation_and_clears() {
        let w = EngineWord::live(GENERATION_MAX, 5).admit().unwrap();
        let r = w.removed();
        assert_eq!(r.state(), EngineState::Free);
        assert_eq!(r.generation(), 0);
        assert_eq!(r.load(), 0);
        assert!(EngineWord::live(1, 1).admit().unwrap().admit().is_none());
        assert!(EngineWord::live(1, 3).draining().admit().is_none());
    }
}
