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

    /// A cheaper reading of the same clock for lease stamps and tie-breaks:
    /// never ahead of [`Clock::now_ns`] and behind it by less than
    /// [`Clock::coarse_slack_ns`]. For `Monotonic` it is
    /// `CLOCK_MONOTONIC_COARSE` (the same time base, updated once per
    /// kernel tick, read through the vDSO without touching the TSC: about
    /// 5 ns instead of 25-30 ns on the benchmark machine); a manual clock
    /// returns its exact reading.
    #[inline]
    pub(crate) fn coarse_ns(&self) -> u64 {
        match self {
            Clock::Monotonic => monotonic_coarse_ns(),
            Clock::Manual(m) => m.now_ns(),
        }
    }

    /// How far [`Clock::coarse_ns`] may lag [`Clock::now_ns`]: the coarse
    /// clock's resolution (one kernel tick), 0 for a manual clock.
    #[inline]
    pub(crate) fn coarse_slack_ns(&self) -> u64 {
        match self {
            Clock::Monotonic => coarse_resolution_ns(),
            Clock::Manual(_) => 0,
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

/// Reads `CLOCK_MONOTONIC_COARSE` in nanoseconds, or `CLOCK_MONOTONIC` when
/// the coarse clock is unusable (then [`coarse_resolution_ns`] is 0).
#[inline]
fn monotonic_coarse_ns() -> u64 {
    if coarse_resolution_ns() == 0 {
        return monotonic_ns();
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE is
    // supported (clock_getres succeeded in `coarse_resolution_ns`) and glibc
    // serves it from the vDSO without a syscall.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if rc != 0 {
        return monotonic_ns();
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Resolution of `CLOCK_MONOTONIC_COARSE` (one kernel tick, 1-10 ms), asked
/// once; 0 when the coarse clock is missing or implausibly coarse, which
/// makes every "coarse" reading a precise one.
fn coarse_resolution_ns() -> u64 {
    use std::sync::atomic::AtomicU64;
    /// `u64::MAX` = not asked yet.
    static RESOLUTION: AtomicU64 = AtomicU64::new(u64::MAX);
    // Relaxed: a cached constant; racing first callers compute the same.
    let r = RESOLUTION.load(Ordering::Relaxed);
    if r != u64::MAX {
        return r;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    let ns = (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64);
    let r = if rc == 0 && ns > 0 && ns <= 10_000_000 {
        ns
    } else {
        0
    };
    RESOLUTION.store(r, Ordering::Relaxed);
    r
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

    #[test]
    fn coarse_is_never_ahead_and_lags_less_than_its_slack() {
        let c = Clock::Monotonic;
        for _ in 0..1000 {
            let before = c.now_ns();
            let coarse = c.coarse_ns();
            let after = c.now_ns();
            assert!(coarse <= after, "coarse {coarse} ahead of {after}");
            // One extra tick of margin: the kernel may be late with a tick.
            assert!(coarse + 2 * c.coarse_slack_ns() + 1_000_000 > before);
        }
        let m = ManualClock::new(7);
        let mc = Clock::Manual(m.clone());
        assert_eq!((mc.coarse_ns(), mc.coarse_slack_ns()), (m.now_ns(), 0));
    }
}
