//! The packed per-engine admission word.
//!
//! Everything admission reads lives in one `u64`, so that "is there room on
//! this engine?" and "take a slot on it" are a single compare-and-swap:
//!
//! | bits    | width | field       | meaning                                           |
//! |---------|-------|-------------|---------------------------------------------------|
//! | 0..11   | 11    | capacity    | most streams admitted at once (1..=2047); 0 = free slot |
//! | 11..23  | 12    | load        | `active + pending + external`                     |
//! | 23..34  | 11    | pending     | reserved, not yet committed tickets               |
//! | 34..45  | 11    | external    | streams owned by others (saturates at 2047)       |
//! | 45..61  | 16    | generation  | bumped on removal; tags engine handles, tickets   |
//! | 61      | 1     | draining    | registered, admitting nothing new                 |
//! | 62      | 1     | healthy     | preference only; unhealthy is still admissible    |
//! | 63      | 1     | prioritized | the engine's priority is not 0                    |
//!
//! `active` is not stored: it is `load - pending - external`. The word holds
//! the load itself because that is what every scan compares: with it, "is
//! this engine less loaded than the best so far" is one mask and one
//! compare when both have the same capacity and flags (see
//! [`crate::protocol::select`]). A free slot is the one with capacity 0.
//! Capacity 0 with `draining` set is no engine state: it marks the word as a
//! *descriptor* of an engine move in flight ([`crate::bits::desc`]), which
//! every scan sees as an engine without room.
//!
//! `prioritized` lets selection skip the engine's metadata cache line on a
//! load tie: two engines that both have it clear have the same priority (0).
//! It is set and cleared together with the priority, under the control lock.
//!
//! Admission keeps `active + pending + external <= capacity <= 2047` at the
//! moment a ticket is admitted, and commit only moves one unit from pending
//! to active, so `active + pending` never exceeds 2047, `load` never exceeds
//! `2047 + 2047 < 4096`, and no field overflows.

use super::field::{fills_word, Field};

pub(crate) const CAPACITY: Field = Field::first(11);
const LOAD: Field = Field::after(CAPACITY, 12);
const PENDING: Field = Field::after(LOAD, 11);
const EXTERNAL: Field = Field::after(PENDING, 11);
const GENERATION: Field = Field::after(EXTERNAL, 16);
pub(crate) const DRAINING: Field = Field::after(GENERATION, 1);
const HEALTHY: Field = Field::after(DRAINING, 1);
const PRIORITIZED: Field = Field::after(HEALTHY, 1);

const _: () = {
    assert!(fills_word(&[
        CAPACITY,
        LOAD,
        PENDING,
        EXTERNAL,
        GENERATION,
        DRAINING,
        HEALTHY,
        PRIORITIZED
    ]));
    // The load holds active + pending + external, each at most the capacity.
    assert!(LOAD.max() >= 2 * CAPACITY.max());
    assert!(PENDING.width() == CAPACITY.width() && EXTERNAL.width() == CAPACITY.width());
};

/// Largest capacity an engine can have, and the saturation point of the
/// external count.
pub const MAX_CAPACITY: u32 = CAPACITY.max() as u32;

/// Number of distinct engine generations before a slot's tag repeats.
pub(crate) const GENERATION_MAX: u16 = GENERATION.max() as u16;
/// Bits of generation an engine word (and so an engine handle) carries.
pub(crate) const GENERATION_BITS: u32 = GENERATION.width();

/// Bits of the load field in place: two words with equal [`CLASS_MASK`]
/// bits order by load as their `word & LOAD_MASK` do.
pub(crate) const LOAD_MASK: u64 = LOAD.mask();
/// Capacity, draining, healthy and prioritized: two engines that agree on
/// these bits compare on load/capacity by load alone, and on everything
/// before the stamp tie-break by nothing else.
pub(crate) const CLASS_MASK: u64 =
    CAPACITY.mask() | DRAINING.mask() | HEALTHY.mask() | PRIORITIZED.mask();

/// Life-cycle state of an engine slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EngineState {
    /// No engine; the slot may be taken by `add`.
    Free,
    /// Registered and admitting.
    Live,
    /// Registered, finishing its tickets, admitting nothing new.
    Draining,
    /// A descriptor of a move in flight (see [`crate::bits::desc`]), or a
    /// corrupt word.
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
            .field("load", &self.load())
            .field("active", &self.active())
            .field("pending", &self.pending())
            .field("external", &self.external())
            .field("healthy", &self.healthy())
            .field("prioritized", &self.prioritized())
            .finish()
    }
}

impl EngineWord {
    /// A free slot whose next engine will carry generation `gen`.
    pub(crate) const fn free(gen: u16) -> EngineWord {
        EngineWord(GENERATION.set(0, gen as u64))
    }

    /// A newly added live, healthy engine with no load (`capacity >= 1`).
    pub(crate) const fn live(gen: u16, capacity: u32) -> EngineWord {
        debug_assert!(capacity >= 1);
        let w = GENERATION.set(0, gen as u64);
        let w = HEALTHY.set(w, 1);
        EngineWord(CAPACITY.set(w, capacity as u64))
    }

    #[inline]
    pub(crate) const fn state(self) -> EngineState {
        match (CAPACITY.get(self.0) == 0, DRAINING.get(self.0) == 1) {
            (true, false) => EngineState::Free,
            (false, false) => EngineState::Live,
            (false, true) => EngineState::Draining,
            (true, true) => EngineState::Invalid,
        }
    }
    /// The word is a descriptor of an engine move in flight (see
    /// [`crate::bits::desc`]), not an engine state.
    #[inline]
    pub(crate) const fn desc(self) -> Option<super::desc::Desc> {
        super::desc::Desc::decode(self.0)
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
    /// Committed tickets: `load - pending - external`.
    #[inline]
    pub(crate) const fn active(self) -> u32 {
        self.load()
            .saturating_sub(self.pending())
            .saturating_sub(self.external())
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
    /// The engine's priority is not 0 (see the module docs).
    #[inline]
    pub(crate) const fn prioritized(self) -> bool {
        PRIORITIZED.get(self.0) == 1
    }
    /// `active + pending + external`.
    #[inline]
    pub(crate) const fn load(self) -> u32 {
        LOAD.get(self.0) as u32
    }
    /// Live (not draining) and one more stream fits under the capacity. (A
    /// free slot has capacity 0, so it never has room.)
    #[inline]
    pub(crate) const fn has_room(self) -> bool {
        DRAINING.get(self.0) == 0 && self.load() < self.capacity()
    }

    /// This word with one more pending ticket, if admission allows it.
    #[inline]
    pub(crate) const fn admit(self) -> Option<EngineWord> {
        // The pending bound holds in any consistent word; checking it keeps
        // the arithmetic total on a corrupt shared file too.
        if self.has_room() && (self.pending() as u64) < PENDING.max() {
            let w = PENDING.set(self.0, self.pending() as u64 + 1);
            Some(EngineWord(LOAD.set(w, self.load() as u64 + 1)))
        } else {
            None
        }
    }
    /// One pending ticket becomes active (the load does not change).
    #[inline]
    pub(crate) const fn commit(self) -> Option<EngineWord> {
        let p = self.pending();
        if p == 0 || self.active() >= MAX_CAPACITY {
            return None;
        }
        Some(EngineWord(PENDING.set(self.0, p as u64 - 1)))
    }
    /// One pending ticket goes away (cancel or expiry).
    #[inline]
    pub(crate) const fn drop_pending(self) -> Option<EngineWord> {
        let p = self.pending();
        if p == 0 || self.load() == 0 {
            return None;
        }
        let w = PENDING.set(self.0, p as u64 - 1);
        Some(EngineWord(LOAD.set(w, self.load() as u64 - 1)))
    }
    /// One active ticket goes away (release or expiry).
    #[inline]
    pub(crate) const fn drop_active(self) -> Option<EngineWord> {
        if self.active() == 0 {
            return None;
        }
        Some(EngineWord(LOAD.set(self.0, self.load() as u64 - 1)))
    }
    /// One active stream becomes one unit of external load: the load stays
    /// (unless the external count is saturated, when the unit just goes).
    pub(crate) const fn active_to_external(self) -> Option<EngineWord> {
        if self.active() == 0 {
            return None;
        }
        if self.external() >= MAX_CAPACITY {
            return self.drop_active();
        }
        Some(EngineWord(EXTERNAL.set(self.0, self.external() as u64 + 1)))
    }
    /// Capacity `capacity` (`1..=MAX_CAPACITY`).
    pub(crate) const fn with_capacity(self, capacity: u32) -> EngineWord {
        debug_assert!(capacity >= 1);
        EngineWord(CAPACITY.set(self.0, capacity as u64))
    }
    /// External count, saturated at [`MAX_CAPACITY`]; the load follows.
    pub(crate) const fn with_external(self, external: u32) -> EngineWord {
        let e = if external > MAX_CAPACITY {
            MAX_CAPACITY
        } else {
            external
        };
        // Saturating: exact for a consistent word, total on a corrupt one.
        let load = self.load().saturating_sub(self.external()) + e;
        let w = EXTERNAL.set(self.0, e as u64);
        EngineWord(LOAD.set(w, load as u64 & LOAD.max()))
    }
    pub(crate) const fn with_healthy(self, healthy: bool) -> EngineWord {
        EngineWord(HEALTHY.set(self.0, healthy as u64))
    }
    pub(crate) const fn with_prioritized(self, prioritized: bool) -> EngineWord {
        EngineWord(PRIORITIZED.set(self.0, prioritized as u64))
    }
    pub(crate) const fn draining(self) -> EngineWord {
        EngineWord(DRAINING.set(self.0, 1))
    }
    pub(crate) const fn undrained(self) -> EngineWord {
        EngineWord(DRAINING.set(self.0, 0))
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
                             healthy: bool, drain: bool, prio: bool) {
            let mut w = EngineWord::live(gen, cap).with_external(ext).with_healthy(healthy);
            prop_assert!(!w.prioritized());
            prop_assert_eq!(w.0 >> 63, 0);
            w = w.with_prioritized(prio);
            if drain { w = w.draining(); }
            prop_assert_eq!(w.prioritized(), prio);
            prop_assert_eq!(w.generation(), gen);
            prop_assert_eq!(w.capacity(), cap);
            prop_assert_eq!(w.external(), ext.min(MAX_CAPACITY));
            prop_assert_eq!(w.healthy(), healthy);
            prop_assert_eq!(w.state(), if drain { EngineState::Draining } else { EngineState::Live });
            prop_assert_eq!(w.active() + w.pending(), 0);
            prop_assert!(!w.removed().prioritized());
        }

        #[test]
        fn admission_never_exceeds_capacity(cap in 1u32..=MAX_CAPACITY, ext in 0u32..3000,
                                            steps in proptest::collection::vec(0u8..6, 0..300),
                                            values in proptest::collection::vec(0u32..5000, 300)) {
            // A shadow of the counts the word derives (active) or stores.
            let (mut active, mut pending, mut external) = (0u32, 0u32, ext.min(MAX_CAPACITY));
            let mut cap = cap;
            let mut w = EngineWord::live(7, cap).with_external(ext);
            for (s, v) in steps.into_iter().zip(values) {
                let next = match s {
                    0 => w.admit(),
                    1 => w.commit(),
                    2 => w.drop_pending(),
                    3 => w.drop_active(),
                    4 => Some(w.with_external(v)),
                    _ => Some(w.with_capacity(1 + v % MAX_CAPACITY)),
                };
                let Some(n) = next else {
                    // Refused only for a reason the shadow agrees with.
                    match s {
                        0 => prop_assert!(active + pending + external >= cap),
                        1 => prop_assert_eq!(pending, 0),
                        2 => prop_assert_eq!(pending, 0),
                        _ => prop_assert_eq!(active, 0),
                    }
                    continue;
                };
                match s {
                    0 => { pending += 1; prop_assert!(n.load() <= n.capacity()); }
                    1 => { pending -= 1; active += 1; }
                    2 => pending -= 1,
                    3 => active -= 1,
                    4 => external = v.min(MAX_CAPACITY),
                    _ => cap = 1 + v % MAX_CAPACITY,
                }
                prop_assert_eq!((n.active(), n.pending(), n.external()), (active, pending, external));
                prop_assert_eq!(n.load(), active + pending + external);
                prop_assert_eq!(n.generation(), 7);
                prop_assert_eq!(n.capacity(), cap);
                prop_assert_eq!(n.state(), EngineState::Live);
                w = n;
            }
        }

        #[test]
        fn class_and_load_masks_order_like_the_fields(cap in 1u32..=MAX_CAPACITY,
                                                      ea in 0u32..2047, eb in 0u32..2047) {
            // Same class: the masked words order as the loads do.
            let wa = EngineWord::live(3, cap).with_external(ea);
            let wb = EngineWord::live(9, cap).with_external(eb);
            prop_assert_eq!((wa.0 ^ wb.0) & CLASS_MASK, 0);
            prop_assert_eq!((wa.0 & LOAD_MASK).cmp(&(wb.0 & LOAD_MASK)),
                            wa.load().cmp(&wb.load()));
            prop_assert_ne!((wa.0 ^ wa.draining().0) & CLASS_MASK, 0);
            prop_assert_ne!((wa.0 ^ wa.with_healthy(false).0) & CLASS_MASK, 0);
            prop_assert_ne!((wa.0 ^ wa.with_prioritized(true).0) & CLASS_MASK, 0);
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
        assert!(!EngineWord::free(4).has_room());
        assert_eq!(EngineWord::free(4).draining().state(), EngineState::Invalid);
    }

    proptest! {
        /// A corrupt shared file can hold any word: every transition is
        /// total on it (no overflow, no assertion, in debug builds too).
        #[test]
        fn any_word_is_survived(raw: u64, ext in 0u32..5000, cap in 1u32..=MAX_CAPACITY) {
            let w = EngineWord(raw);
            for n in [w.admit(), w.commit(), w.drop_pending(), w.drop_active()].into_iter().flatten() {
                let _ = (n.load(), n.active(), n.has_room());
            }
            let _ = w.with_external(ext).with_capacity(cap).removed().load();
            let _ = (w.active(), w.state(), w.is_registered());
        }
    }
}
