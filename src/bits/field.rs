//! [`Field`]: one bit field of a packed `u64`, the type every packed word
//! and handle is declared with.
//!
//! Fields are declared in order, each relative to the previous one
//! ([`Field::first`], [`Field::after`]), so no shift is ever written by hand;
//! [`fills_word`] then checks at compile time that a word's fields are
//! disjoint and cover all 64 bits (after sharded-slab's `Pack`).

/// One bit field of a packed word: `width` bits starting at `shift`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    shift: u32,
    width: u32,
}

impl Field {
    /// The field at bit 0.
    pub(crate) const fn first(width: u32) -> Field {
        assert!(width >= 1 && width <= 64);
        Field { shift: 0, width }
    }
    /// The field right above `prev`.
    pub(crate) const fn after(prev: Field, width: u32) -> Field {
        let shift = prev.end();
        assert!(width >= 1 && shift + width <= 64);
        Field { shift, width }
    }
    /// One past the field's highest bit.
    pub(crate) const fn end(self) -> u32 {
        self.shift + self.width
    }
    /// Bits in the field.
    pub(crate) const fn width(self) -> u32 {
        self.width
    }
    /// Largest value the field holds.
    pub(crate) const fn max(self) -> u64 {
        u64::MAX >> (64 - self.width)
    }
    /// The field's bits in place.
    pub(crate) const fn mask(self) -> u64 {
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

/// True when `fields` are pairwise disjoint and together cover every bit of
/// a `u64`: used in `const` assertions beside each word's declaration.
pub(crate) const fn fills_word(fields: &[Field]) -> bool {
    let mut seen = 0u64;
    let mut bits = 0u32;
    let mut i = 0;
    while i < fields.len() {
        let m = fields[i].mask();
        if seen & m != 0 {
            return false;
        }
        seen |= m;
        bits += fields[i].width;
        i += 1;
    }
    seen == u64::MAX && bits == 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_chain_and_fill() {
        let a = Field::first(11);
        let b = Field::after(a, 12);
        let c = Field::after(b, 41);
        assert!(fills_word(&[a, b, c]));
        assert!(!fills_word(&[a, b]));
        assert!(!fills_word(&[a, a, b, c]));
        assert_eq!(b.get(b.set(u64::MAX, 5)), 5);
        assert_eq!(c.max(), (1u64 << 41) - 1);
        assert_eq!(Field::first(64).max(), u64::MAX);
    }
}
