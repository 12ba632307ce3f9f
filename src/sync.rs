//! The only module that imports atomics or spins.
//!
//! Under `--cfg loom` every atomic, fence and spin hint comes from
//! [`loom`](https://docs.rs/loom) so the model checker can explore all
//! interleavings; otherwise they are the `std` ones and crossbeam's
//! exponential [`Backoff`](crossbeam_utils::Backoff). The rest of the crate
//! imports from here and never from `std::sync::atomic` or crossbeam
//! directly.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicI32, AtomicU32, AtomicU64};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicI32, AtomicU32, AtomicU64};

pub(crate) use std::sync::atomic::Ordering;

/// Exponential backoff for CAS contention and short waits. Under loom each
/// step yields instead, so a waiting thread lets the model run the thread it
/// waits for (a busy spin would be an infinite schedule).
pub(crate) struct Backoff(crossbeam_utils::Backoff);

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff(crossbeam_utils::Backoff::new())
    }

    /// After a lost CAS: spin briefly (the winner already made progress).
    #[inline]
    pub(crate) fn spin(&self) {
        #[cfg(loom)]
        loom::thread::yield_now();
        #[cfg(not(loom))]
        self.0.spin();
    }

    /// While waiting for another thread to finish something: spin, then
    /// yield the processor.
    pub(crate) fn snooze(&self) {
        #[cfg(loom)]
        loom::thread::yield_now();
        #[cfg(not(loom))]
        self.0.snooze();
    }

    /// True once the backoff has grown to the point of yielding: time to
    /// block or look for a dead holder instead.
    pub(crate) fn is_completed(&self) -> bool {
        self.0.is_completed()
    }
}
