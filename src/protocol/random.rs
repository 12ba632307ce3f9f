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

#[cfg(not(loom))]
std::thread_local! {
    /// The calling thread's wyrand state; 0 until its first use.
    static STATE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// One step of the calling thread's wyrand stream: 64 random bits from one
/// add and one widening multiply (no syscall, no lock, no allocation).
///
/// The state is a `const`-initialised thread-local, so reading it is one
/// TLS-relative load with no "initialised yet?" check. A thread's first
/// call seeds it ([`seed`], out of line so the hot path stays a load, an
/// add, a store and a multiply).
#[cfg(not(loom))]
#[inline(always)]
fn wyrand() -> u64 {
    let v = STATE.with(|s| {
        let mut v = s.get();
        if v == 0 {
            v = seed();
        }
        v = v.wrapping_add(WY_ADD);
        s.set(v);
        v
    });
    let m = (v as u128).wrapping_mul((v ^ 0xE703_7ED1_A0B4_28DB) as u128);
    ((m >> 64) as u64) ^ (m as u64)
}

/// A first state for the calling thread: its state's address, which differs
/// between live threads, mixed, so concurrent threads draw different
/// streams (what spreads them over equally good engines) without reading
/// a clock. (Or, once in 2^64 steps, after a wrap to 0: reseeding is just
/// as good.)
#[cfg(not(loom))]
#[cold]
#[inline(never)]
fn seed() -> u64 {
    let at = STATE.with(|s| s as *const std::cell::Cell<u64> as u64);
    splitmix64(at) | 1
}

/// A per-thread random stream for sampling policies (`two_choices`) (no syscall, no lock).
#[cfg(not(loom))]
#[inline]
pub(crate) fn next_seed() -> u64 {
    wyrand()
}

/// Scans a thread runs from one drawn start before it draws another.
#[cfg(not(loom))]
pub(crate) const SCAN_START_SCANS: u64 = 64;

#[cfg(not(loom))]
std::thread_local! {
    /// The calling thread's scan start: a slot index (high half) and how
    /// many more scans may use it (low half).
    static SCAN_START: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Where the calling thread's least-loaded scan starts: a random slot of
/// `0..n` (0 when `n` is 0), drawn again every [`SCAN_START_SCANS`] scans;
/// it may be `n` or more while a draw made for a larger table lasts, so
/// callers clamp it.
///
/// Random, so concurrent reservers start at different slots and settle on
/// different engines among equals. Kept for a while, so a thread's scans
/// have the same shape call after call (the branch predictor learns where
/// its two loops end), and stored as the index itself, so the scan's first
/// load waits only for one thread-local load, not for a multiply (the
/// start is on the scan's critical path: every address depends on it).
/// A table whose slot count grew since the draw gets a start in its old
/// range until the next draw.
#[cfg(not(loom))]
#[inline]
pub(crate) fn scan_start(n: usize) -> usize {
    // One access to the thread-local (each is a call of its accessor unless
    // it is inlined, which the compiler decides).
    let s = SCAN_START.with(|c| {
        let mut s = c.get();
        if s as u32 == 0 {
            s = draw_scan_start(n);
        }
        c.set(s - 1);
        s
    });
    (s >> 32) as usize
}

/// A fresh scan start for [`scan_start`]: a random slot of `0..n` and a
/// full count (out of line: once in [`SCAN_START_SCANS`] calls).
#[cfg(not(loom))]
#[cold]
#[inline(never)]
fn draw_scan_start(n: usize) -> u64 {
    // Multiply-shift maps 32 random bits onto 0..n without a division
    // (n <= 65 535, so the bias is below 2^-16).
    let index = ((wyrand() >> 32) * n as u64) >> 32;
    (index << 32) | SCAN_START_SCANS
}

/// Deterministic under the model checker.
#[cfg(loom)]
pub(crate) fn next_seed() -> u64 {
    7
}

/// Deterministic under the model checker: the last slot, so every model
/// with two or more engines also explores a scan that wraps around.
#[cfg(loom)]
pub(crate) fn scan_start(n: usize) -> usize {
    n.saturating_sub(1)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn scan_start_is_kept_then_drawn_again() {
        // On a fresh thread, so no earlier draw (for another n) is running.
        std::thread::spawn(|| {
            let run: Vec<usize> = (0..SCAN_START_SCANS).map(|_| scan_start(1000)).collect();
            assert!(run[0] < 1000);
            assert!(run.iter().all(|&s| s == run[0]), "{run:?}");
            // The next draw is for 16 slots; over 1600 runs, starts all over.
            let mut seen = [0u32; 16];
            for _ in 0..1600 * SCAN_START_SCANS {
                seen[scan_start(16)] += 1;
            }
            // 100 runs expected per slot; 6 standard deviations is about 60.
            let runs = seen.map(|c| c / SCAN_START_SCANS as u32);
            assert!(runs.iter().all(|&r| (40..160).contains(&r)), "{runs:?}");
        })
        .join()
        .unwrap();
        std::thread::spawn(|| assert_eq!(scan_start(0), 0))
            .join()
            .unwrap();
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
