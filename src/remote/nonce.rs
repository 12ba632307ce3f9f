//! Random 64-bit values for session ids and generation nonces.
//!
//! One random key per process (from `getrandom`) and a counter, mixed with
//! the process id at each draw, so a forked child never repeats its
//! parent's values. Not cryptographic: the values only have to differ.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

fn key() -> u64 {
    static KEY: OnceLock<u64> = OnceLock::new();
    *KEY.get_or_init(|| {
        let mut buf = [0u8; 8];
        // SAFETY: `buf` is writable for its 8 bytes.
        let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
        let mut k = u64::from_le_bytes(buf);
        if n != 8 {
            // No getrandom: the clock and an address still differ per run.
            let local = 0u8;
            k = crate::monotonic_ns() ^ (&local as *const u8 as u64).rotate_left(32);
        }
        k
    })
}

/// A fresh random value.
pub(crate) fn next() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Relaxed: only the uniqueness of the counter value matters.
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id() as u64;
    mix(key() ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ pid << 40)
}

/// SplitMix64's finaliser.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A fresh random value as 16 lowercase hex digits.
pub(crate) fn hex() -> String {
    format!("{:016x}", next())
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_differ() {
        let v: std::collections::HashSet<u64> = (0..10_000).map(|_| super::next()).collect();
        assert_eq!(v.len(), 10_000);
        assert_eq!(super::hex().len(), 16);
    }
}
