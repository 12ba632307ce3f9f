//! Cheap randomness without a syscall or a lock: a bit mixer for tags and
//! seeds, and a per-thread stream for the selection policies (the random
//! probes of `two_choices`, the random start of the least-loaded scan).

/// SplitMix64: a tiny, good 64-bit mixer for sampling and tags.
#[inline]
pub(crate) const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The increment of the per-thread stream (wyrand's).
#[cfg(not(loom))]
const WY_ADD: u64 = 0xA076_1D64_78BD_642F;

/// One step of the calling thread's wyrand stream: 64 random bits from one
/// add and one widening multiply (no syscall, no lock, no allocation).
///
/// The state is a `const`-initialised thread-local, so reading it is one
/// TLS-relative load with no "initialised yet?" check. A thread's first
/// call seeds it from the state's own address, which differs between live
/// threads, so concurrent threads draw different streams (what spreads
/// them over equally good engines) without reading a clock.
#[cfg(not(loom))]
#[inline]
fn wyrand() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    STATE.with(|s| {
        let mut v = s.get();
        if v == 0 {
            // First use on this thread (or, once in 2^64 steps, a wrap to 0:
            // reseeding then is just as good).
            v = splitmix64(s as *const Cell<u64> as u64);
        }
        v = v.wrapping_add(WY_ADD);
        s.set(v);
        let m = (v as u128).wrapping_mul((v ^ 0xE703_7ED1_A0B4_28DB) as u128);
        ((m >> 64) as u64) ^ (m as u64)
    })
}

/// A per-thread random stream for sampling policies (`two_choices`) (no syscall, no lock).
#[cfg(not(loom))]
#[inline]
pub(crate) fn next_seed() -> u64 {
    wyrand()
}

/// A random index in `0..n` (0 when `n` is 0) from the calling thread's
/// stream: where the least-loaded scan starts. Multiply-shift maps 32
/// random bits onto `0..n` without a division (`n` is at most 65 535, so
/// the bias is below 2^-16).
#[cfg(not(loom))]
#[inline]
pub(crate) fn below(n: usize) -> usize {
    (((wyrand() >> 32) * n as u64) >> 32) as usize
}

/// Deterministic under the model checker.
#[cfg(loom)]
pub(crate) fn next_seed() -> u64 {
    7
}

/// Deterministic under the model checker: the last slot, so every model
/// with two or more engines also explores a scan that wraps around.
#[cfg(loom)]
pub(crate) fn below(n: usize) -> usize {
    n.saturating_sub(1)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn below_covers_the_range_evenly() {
        let n = 16;
        let mut seen = [0u32; 16];
        for _ in 0..16_000 {
            let i = below(n);
            assert!(i < n);
            seen[i] += 1;
        }
        // 1000 expected per slot; 6 standard deviations is about 190.
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
        assert_eq!(below(0), 0);
        assert_eq!(below(1), 0);
    }

    #[test]
    fn threads_draw_different_streams() {
        let mine: Vec<u64> = (0..4).map(|_| next_seed()).collect();
        let theirs: Vec<u64> = std::thread::spawn(|| (0..4).map(|_| next_seed()).collect())
            .join()
            .unwrap();
        assert_ne!(mine, theirs);
    }
}
