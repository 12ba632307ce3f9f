//! Where lease time comes from.
//!
//! Production tables read `CLOCK_MONOTONIC` (a vDSO call, no system call),
//! which every process on the host shares, so deadlines written by one
//! process mean the same in another. Tests inject a [`ManualClock`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A clock tests move by hand. Cloning shares the same time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock reading `start_ms` milliseconds.
    pub fn new(start_ms: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(start_ms.saturating_mul(1_000_000))))
    }
    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: the clock is a plain value; tables read it with no
        // other data depending on it.
        self.0.fetch_add(ns, Ordering::Relaxed);
    }
    /// Sets the clock to `ms` milliseconds (it may go backwards: tests of
    /// clock jumps use that).
    pub fn set_ms(&self, ms: u64) {
        self.0
            .store(ms.saturating_mul(1_000_000), Ordering::Relaxed);
    }
    /// The current reading in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The time source of one table handle.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// `CLOCK_MONOTONIC`.
    #[default]
    Monotonic,
    /// A hand-moved clock for deterministic tests.
    Manual(ManualClock),
}

impl Clock {
    /// Nanoseconds on this clock.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        match self {
            Clock::Monotonic => monotonic_ns(),
            Clock::Manual(m) => m.now_ns(),
        }
    }
}

/// Reads `CLOCK_MONOTONIC` in nanoseconds.
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always
    // supported on Linux, and glibc serves it from the vDSO without a syscall.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Milliseconds of `ns`, truncated to the 32 bits a ticket stores. Deadlines
/// compare with wrapping arithmetic, which is exact for leases below 2^31 ms.
#[inline]
pub(crate) const fn ms32(ns: u64) -> u32 {
    (ns / 1_000_000) as u32
}

/// `true` when `now` has reached `deadline` (both wrapping 32-bit ms).
#[inline]
pub(crate) const fn reached(now: u32, deadline: u32) -> bool {
    (now.wrapping_sub(deadline) as i32) >= 0
}

/// Converts a [`Duration`] to milliseconds, rounding up and saturating.
pub fn duration_ms(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn wrapping_deadlines() {
        assert!(reached(10, 10));
        assert!(!reached(9, 10));
        assert!(reached(5, u32::MAX - 5));
        assert!(!reached(u32::MAX - 5, 5));
        let c = ManualClock::new(3);
        c.advance(Duration::from_millis(2));
        assert_eq!(ms32(c.now_ns()), 5);
        assert!(monotonic_ns() > 0);
        assert_eq!(duration_ms(Duration::from_micros(1500)), 2);
    }
}
