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
// Under loom the shared-file and process code is compiled out (no files,
// no processes in a model), which leaves its helpers unused.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

// Layers, bottom up, each importing only the ones below it (docs/DESIGN.md,
// "Layers"): `sync` (the only import of atomics and backoff) and `error`;
// `bits` (packed words, handles); `config`; `memory` (the repr(C) block,
// its layout, region, registry and holders); `protocol` (free slots,
// selection, clock, randomness); `table` (Table and its impl blocks);
// the surfaces: this file (the Rust API), `remote` (tables kept in Redis)
// and `ffi` (the C ABI, one panic boundary).
mod bits;
mod config;
mod error;
pub mod ffi;
mod memory;
mod protocol;
#[cfg(not(loom))]
pub mod remote;
mod sync;
mod table;

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
#[cfg(not(loom))]
pub use remote::RemoteTable;
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
