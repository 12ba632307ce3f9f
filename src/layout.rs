//! The table's memory: one contiguous, position-independent `#[repr(C)]`
//! block.
//!
//! ```text
//! offset 0            Header            (config, table tag, free-list head, hints)
//! engines_off         [EngineWordCell; max_engines]   packed admission words
//! metas_off           [EngineMeta; max_engines]       keys, priority, totals
//! tickets_off         [TicketSlot; max_tickets]       ticket words, links
//! ```
//!
//! Nothing inside holds a pointer: slots refer to each other by index, so
//! the same bytes can be mapped at different addresses in several
//! processes. Every region starts on a 128-byte boundary.

use crate::config::Config;
use crate::sync::{AtomicI32, AtomicU32, AtomicU64};
use crossbeam_utils::CachePadded;
use std::mem::{align_of, size_of};

/// First word of every table: "ENGSLOT1" read as little-endian bytes.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"ENGSLOT\x01");
/// Bumped whenever the layout below changes.
pub(crate) const LAYOUT_VERSION: u32 = 3;
pub(crate) const REGION_ALIGN: usize = 128;
/// The cache line size the hot per-engine and per-ticket structs are padded
/// to (their `align`, which `repr` needs as a literal).
pub(crate) const CACHE_LINE: usize = 64;

/// The configuration as stored in the table (all fixed-width integers).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawConfig {
    pub max_engines: u32,
    pub max_tickets: u32,
    pub default_capacity: u32,
    pub pending_lease_ms: u32,
    pub active_lease_ms: u32,
    pub policy: u32,
}

impl From<&Config> for RawConfig {
    fn from(c: &Config) -> RawConfig {
        RawConfig {
            max_engines: c.max_engines,
            max_tickets: c.max_tickets,
            default_capacity: c.default_capacity,
            pending_lease_ms: c.pending_lease_ms,
            active_lease_ms: c.active_lease_ms,
            policy: c.policy as u32,
        }
    }
}

/// The fixed part at offset 0. Immutable fields first (written once by the
/// creator before the table is published), then the shared hot words, each
/// on its own cache line.
#[repr(C)]
pub(crate) struct Header {
    pub magic: u64,
    pub version: u32,
    /// Nonzero once the creator finished initialising (shared tables).
    pub ready: AtomicU32,
    pub total_size: u64,
    pub config: RawConfig,
    /// Random per table; carried by its handles.
    pub tag: u32,
    pub engines_off: u64,
    pub metas_off: u64,
    pub tickets_off: u64,
    /// The creator's PID and time namespaces (inode numbers of
    /// `/proc/self/ns/{pid,time}`, 0 if unknown): holder liveness and lease
    /// clocks mean something only inside them (see `crate::shm`).
    pub pid_ns: u64,
    pub time_ns: u64,
    /// Control-plane lock serialising engine add (0 = free, else holder).
    pub control: CachePadded<AtomicU64>,
    /// Head of the ticket free list: ABA counter (high 32) | index + 1 (low 32).
    pub free_head: CachePadded<AtomicU64>,
    /// Earliest lease deadline (ms on the table clock) a sweep could find;
    /// `u64::MAX` when no ticket can expire.
    pub next_expiry_ms: CachePadded<AtomicU64>,
    /// Sweeps in progress (low 32 bits) and sweeps finished (high 32 bits):
    /// lets a reserve that finds no room tell whether the hint above is
    /// settled or a sweep is rebuilding it (see `crate::reclaim`).
    pub sweeps: CachePadded<AtomicU64>,
    /// One past the highest engine slot ever used (bounds every scan).
    pub engine_hwm: CachePadded<AtomicU32>,
}

/// The admission word of one engine (see [`crate::word`]) and the one
/// tie-break selection reads on every load tie, side by side: a scan never
/// reads the engine's metadata line.
///
/// Each cell, each engine's metadata and each ticket slot has a cache line
/// of its own ([`CACHE_LINE`]): engines and tickets used by different
/// threads are written by different threads, and sharing lines made two
/// threads 20-30% slower per cycle, while the padding costs a single thread
/// nothing measurable at 16 engines and about 3% at 4096 (the numbers are in
/// `docs/BENCHMARKS.md`).
#[repr(C, align(64))]
pub(crate) struct EngineWordCell {
    pub word: AtomicU64,
    /// Coarse clock reading of the last admission on this engine (ns); 0
    /// for an engine never reserved. Reset while the slot is free.
    pub last_reserved_ns: AtomicU64,
}

/// Everything about an engine that admission does not need atomically with
/// its counts. Padded to whole cache lines (see [`EngineWordCell`]).
#[repr(C, align(64))]
pub(crate) struct EngineMeta {
    /// Key bytes, little-endian in 8 words; written only while the slot is
    /// free, read with the seqlock discipline of [`crate::engines`].
    pub key: [AtomicU64; 8],
    pub key_len: AtomicU32,
    pub key_hash: AtomicU32,
    pub priority: AtomicI32,
    /// The exact external count (the word holds it saturated).
    pub external: AtomicU32,
    pub reserved_total: AtomicU64,
    pub expired_total: AtomicU64,
}

/// One ticket slot, on a cache line of its own (see [`EngineWordCell`]):
/// the slots two threads hold side by side would otherwise share one.
#[repr(C, align(64))]
pub(crate) struct TicketSlot {
    /// State, busy bit, generation and lease deadline (see [`crate::tickets`]).
    pub word: AtomicU64,
    /// The engine the live ticket counts against: index (low 16) and
    /// engine generation (high 16). Written before the ticket is published.
    pub engine: AtomicU32,
    /// Next free slot + 1 (0 = end) while the slot is on the free list.
    pub next: AtomicU32,
    /// Process that holds the ticket (shared tables); 0 in-process.
    pub holder: AtomicU64,
}

impl EngineWordCell {
    pub(crate) fn new() -> Self {
        EngineWordCell {
            word: AtomicU64::new(0),
            last_reserved_ns: AtomicU64::new(0),
        }
    }
}

impl EngineMeta {
    pub(crate) fn new() -> Self {
        EngineMeta {
            key: std::array::from_fn(|_| AtomicU64::new(0)),
            key_len: AtomicU32::new(0),
            key_hash: AtomicU32::new(0),
            priority: AtomicI32::new(0),
            external: AtomicU32::new(0),
            reserved_total: AtomicU64::new(0),
            expired_total: AtomicU64::new(0),
        }
    }
}

impl TicketSlot {
    pub(crate) fn new(next: u32) -> Self {
        TicketSlot {
            word: AtomicU64::new(0),
            engine: AtomicU32::new(0),
            next: AtomicU32::new(next),
            holder: AtomicU64::new(0),
        }
    }
}

/// Byte offsets of the regions for one configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub engines_off: usize,
    pub metas_off: usize,
    pub tickets_off: usize,
    pub total: usize,
}

const fn align_up(n: usize, a: usize) -> usize {
    n.div_ceil(a) * a
}

impl Layout {
    /// The layout for `max_engines` engines and `max_tickets` tickets (both
    /// already validated, so nothing here can overflow on 64-bit targets).
    pub(crate) const fn for_sizes(max_engines: u32, max_tickets: u32) -> Layout {
        let engines_off = align_up(size_of::<Header>(), REGION_ALIGN);
        let metas_off = align_up(
            engines_off + max_engines as usize * size_of::<EngineWordCell>(),
            REGION_ALIGN,
        );
        let tickets_off = align_up(
            metas_off + max_engines as usize * size_of::<EngineMeta>(),
            REGION_ALIGN,
        );
        let total = align_up(
            tickets_off + max_tickets as usize * size_of::<TicketSlot>(),
            REGION_ALIGN,
        );
        Layout {
            engines_off,
            metas_off,
            tickets_off,
            total,
        }
    }
}

const _: () = {
    assert!(align_of::<EngineWordCell>() == CACHE_LINE);
    assert!(align_of::<EngineMeta>() == CACHE_LINE);
    assert!(align_of::<TicketSlot>() == CACHE_LINE);
    assert!(align_of::<Header>() <= REGION_ALIGN);
    assert!(align_of::<EngineMeta>() <= REGION_ALIGN);
    assert!(align_of::<TicketSlot>() <= REGION_ALIGN);
};
