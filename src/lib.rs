//! # engine-slots
//!
//! An embedded, lock-free allocator of stream slots on backend engines.
//!
//! A proxy places live streams on engines that each take at most
//! `capacity` streams. engine-slots makes "pick an engine" and "count the
//! stream on it" one atomic step, so concurrent requests can never
//! overcommit an engine, and leases win back every slot a caller forgets.
//!
//! * [`Table`] — the fixed-size table (engines + tickets), every method
//!   `&self` and thread-safe.
//! * [`Engine`], [`Ticket`] — generation-tagged `u64` handles: a finished
//!   ticket or removed engine is stale forever, so misuse is harmless.
//! * [`Config`], [`Policy`] — size, leases, selection policy.
//!
//! The life cycle of a ticket: `reserve -> pending -> commit -> active ->
//! release`, or `pending -> cancel`, or `pending|active -> expired`.
//! Each ticket is finished exactly once; every other attempt is
//! [`Error::Stale`] and changes nothing.
//!
//! The C ABI over this API lives in `include/engine_slots.h`.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

// Layers, each importing only the ones below it (docs/DESIGN.md, "Layers"):
mod bits; //                 packed words and handles
mod config; //               Config and its C/on-disk form
mod error; //                the error type
pub mod ffi;
mod memory; //               the repr(C) block: layout, padding, region, holders
mod protocol; //             free list, selection, clock, randomness
mod sync; //                 std/loom atomics and backoff: the only import of either
mod table; //                Table and its impl blocks //              the C ABI (one panic boundary)

#[cfg(all(test, loom))]
mod loom;

/// The README's Rust example runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use bits::engine_word::MAX_CAPACITY;
pub use bits::handle::{Engine, Ticket, MAX_ENGINES, MAX_TICKETS};
pub use config::{Config, Policy, MAX_LEASE_MS};
pub use error::{Error, Result};
pub use protocol::clock::{duration_ms, monotonic_ns, Clock, ManualClock};
pub use table::engines::{EngineSpec, KEY_MAX};
pub use table::guard::TicketGuard;
pub use table::reserve::Reservation;
#[cfg(not(loom))]
pub use table::shared::SharedView;
pub use table::stats::{EngineStats, TicketCounts};
pub use table::Table;

/// Benchmark instrumentation (feature `bench-counters`, never in production
/// builds): selection scans per thread, for CAS retries per reservation.
#[cfg(feature = "bench-counters")]
#[doc(hidden)]
pub use protocol::select::counters as bench_counters;

/// The crate version, as the C ABI's `es_version` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
