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

mod clock;
mod config;
mod engines;
mod error;
pub mod ffi;
mod freelist;
mod guard;
mod handle;
#[cfg(not(loom))]
mod holder;
mod layout;
mod lifecycle;
mod reclaim;
mod region;
mod reserve;
// Remote tables kept in Redis (RemoteTable).
#[cfg(not(loom))]
pub mod remote;
mod select;
#[cfg(not(loom))]
mod shm;
mod stats;
mod sync;
mod table;
mod ticket_word;
mod word;

#[cfg(all(test, loom))]
mod loom_models;

/// The README's Rust example runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use clock::{duration_ms, monotonic_ns, Clock, ManualClock};
pub use config::{Config, Policy, MAX_LEASE_MS};
pub use engines::{EngineSpec, KEY_MAX};
pub use error::{Error, Result};
pub use guard::TicketGuard;
pub use handle::{Engine, Ticket, MAX_ENGINES, MAX_TICKETS};
#[cfg(not(loom))]
pub use remote::RemoteTable;
pub use reserve::Reservation;
#[cfg(not(loom))]
pub use shm::SharedView;
pub use stats::{EngineStats, TicketCounts};
pub use table::Table;
pub use word::MAX_CAPACITY;

/// The crate version, as the C ABI's `es_version` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
