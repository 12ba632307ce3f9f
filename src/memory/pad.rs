//! [`CacheLine`]: the padding type of the table's memory.
//!
//! The table's bytes are a file format (shared tables), so their layout may
//! not depend on another crate's per-architecture guess: this type's
//! alignment is fixed here, on every target, and `layout.rs` asserts every
//! size and offset that follows from it.

/// The line size every hot word is padded to, on every architecture.
pub(crate) const CACHE_LINE: usize = 64;

/// `T` on a cache line of its own (64 bytes, whatever the target).
#[repr(C, align(64))]
pub(crate) struct CacheLine<T>(pub(crate) T);

impl<T> std::ops::Deref for CacheLine<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

const _: () = assert!(std::mem::align_of::<CacheLine<u8>>() == CACHE_LINE);
