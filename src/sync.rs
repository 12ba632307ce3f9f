//! The only module that imports atomics.
//!
//! Under `--cfg loom` every atomic, fence and spin hint comes from
//! [`loom`](https://docs.rs/loom) so the model checker can explore all
//! interleavings; otherwise they are the `std` ones. The rest of the crate
//! imports from here and never from `std::sync::atomic` directly.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicI32, AtomicU32, AtomicU64};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicI32, AtomicU32, AtomicU64};

pub(crate) use std::sync::atomic::Ordering;

/// Politely wait for another thread to make progress (used only by the
/// control-plane lock, never on the reserve/commit/cancel/release path).
pub(crate) fn spin_wait(backoff: &crossbeam_utils::Backoff) {
    #[cfg(loom)]
    {
        let _ = backoff;
        loom::thread::yield_now();
    }
    #[cfg(not(loom))]
    backoff.snooze();
}
