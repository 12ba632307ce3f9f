//! Cheap randomness without a syscall or a lock: a bit mixer for tags and
//! seeds, and a per-thread stream for sampling policies.

/// SplitMix64: a tiny, good 64-bit mixer for sampling and tags.
#[inline]
pub(crate) const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A per-thread random stream for sampling policies (`two_choices`) (no syscall, no lock).
#[cfg(not(loom))]
pub(crate) fn next_seed() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(splitmix64(
            crate::protocol::clock::monotonic_ns() ^ (&STATE as *const _ as u64)));
    }
    STATE.with(|s| {
        let v = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(v);
        v
    })
}

/// Deterministic under the model checker.
#[cfg(loom)]
pub(crate) fn next_seed() -> u64 {
    7
}
