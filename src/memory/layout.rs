//! The table's memory: one contiguous, position-independent `#[repr(C)]`
//! block.
//!
//! ```text
//! offset 0            Header            (config, table tag, hints, sweep lease)
//! registry_off        [RegistryEntry; REGISTRY_LEN]   processes using the table
//! engines_off         [EngineWordCell; max_engines]   packed admission words
//! metas_off           [EngineMeta; max_engines]       keys, priority, totals
//! tickets_off         [TicketSlot; max_tickets]       ticket words, intent records
//! bitmap_off          [AtomicU64; ceil(max_tickets/64)] free ticket slots
//! ```
//!
//! Nothing inside holds a pointer: slots refer to each other by index, so
//! the same bytes can be mapped at different addresses in several
//! processes. Every region starts on a 128-byte boundary.

use crate::config::es_config;
#[cfg_attr(loom, allow(unused_imports))]
use crate::memory::pad::{CacheLine, CACHE_LINE};
use crate::sync::{AtomicI32, AtomicU32, AtomicU64};
#[cfg_attr(loom, allow(unused_imports))]
use std::mem::{align_of, offset_of, size_of};

/// First word of every table: "ENGSLOT1" read as little-endian bytes.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"ENGSLOT\x01");
/// Bumped whenever the layout below changes (the const assertions at the
/// end of this file fail first, pointing here).
///
/// 4: own 64-byte padding type in the header (was crossbeam's
/// `CachePadded`), keys of up to 256 bytes, a user word per engine.
/// 5: crash-safe steps: intent records in ticket slots, a free-slot bitmap
/// instead of the free list, the registry of processes, the sweep lease.
pub(crate) const LAYOUT_VERSION: u32 = 5;
/// Entries of the registry: processes (table handles) that may operate on a
/// shared table at once.
pub(crate) const REGISTRY_LEN: usize = if cfg!(loom) { 2 } else { 1024 };
pub(crate) const REGION_ALIGN: usize = 128;
/// Words of key storage per engine: room for `KEY_MAX` bytes.
pub(crate) const KEY_WORDS: usize = 32;

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
    pub config: es_config,
    /// Random per table; carried by its handles.
    pub tag: u32,
    pub engines_off: u64,
    pub metas_off: u64,
    pub tickets_off: u64,
    /// The creator's PID and time namespaces (inode numbers of
    /// `/proc/self/ns/{pid,time}`, 0 if unknown): holder liveness and lease
    /// clocks mean something only inside them (see `crate::table::shared`).
    pub pid_ns: u64,
    pub time_ns: u64,
    pub registry_off: u64,
    pub bitmap_off: u64,
    /// Control-plane lock serialising engine add (0 = free, else holder).
    pub control: CacheLine<AtomicU64>,
    /// Earliest lease deadline a sweep could find, with the sequence number
    /// of the sweep that last rebuilt it (see [`crate::bits::sweep::Hint`]).
    pub next_expiry: CacheLine<AtomicU64>,
    /// Who is rebuilding the hint (see `crate::table::reclaim`).
    pub sweep: CacheLine<SweepState>,
    /// One past the highest engine slot ever used (bounds every scan).
    pub engine_hwm: CacheLine<AtomicU32>,
}

/// The sweep lease and what tests and benchmarks count of sweeps.
#[repr(C)]
pub(crate) struct SweepState {
    /// [`crate::bits::sweep::Lease`]: held flag, holder, sequence number.
    pub lease: AtomicU64,
    /// When the lease runs out unless renewed (ms on the table clock).
    pub deadline_ms: AtomicU64,
    /// Full passes over the ticket slots, by every process.
    pub full_sweeps: AtomicU64,
}

/// One process (table handle) that operates on a shared table: in-flight
/// steps name it by `(index, gen)` (`crate::memory::registry`).
#[repr(C)]
pub(crate) struct RegistryEntry {
    /// Holder identity (see `crate::memory::holder`); 0 = free entry.
    pub holder: AtomicU64,
    /// Bumped by every registration, so references to an earlier one are
    /// known to be gone.
    pub gen: AtomicU32,
    pub _reserved: AtomicU32,
}

/// The admission word of one engine (see [`crate::bits::engine_word`]) and the one
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
    /// Key bytes, little-endian in [`KEY_WORDS`] words; written only while
    /// the slot is free, read with the seqlock discipline of
    /// [`crate::table::engines`].
    pub key: [AtomicU64; KEY_WORDS],
    pub key_len: AtomicU32,
    pub key_hash: AtomicU32,
    pub priority: AtomicI32,
    /// The exact external count (the word holds it saturated).
    pub external: AtomicU32,
    pub reserved_total: AtomicU64,
    pub expired_total: AtomicU64,
    /// The caller's own word for this engine (an address, an index into its
    /// own tables); the table only stores and reports it.
    pub user: AtomicU64,
}

/// One ticket slot, on a cache line of its own (see [`EngineWordCell`]):
/// the slots two threads hold side by side would otherwise share one.
#[repr(C, align(64))]
pub(crate) struct TicketSlot {
    /// State, busy bit, generation and lease deadline (see [`crate::bits::ticket_word`]).
    pub word: AtomicU64,
    /// The engine the live ticket counts against: index (low 16) and
    /// engine generation (high 16). Written before the ticket is published;
    /// also the engine of the move in flight.
    pub engine: AtomicU32,
    pub _reserved: AtomicU32,
    /// Process that holds the ticket (shared tables); 0 in-process.
    pub holder: AtomicU64,
    /// Intent record of the engine move in flight (see
    /// `crate::table::intent`): the engine word the move starts from ...
    pub intent_from: AtomicU64,
    /// ... and the ticket word the slot gets once the move is applied.
    pub intent_to: AtomicU64,
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
            user: AtomicU64::new(0),
        }
    }
}

impl TicketSlot {
    pub(crate) fn new() -> Self {
        TicketSlot {
            word: AtomicU64::new(0),
            engine: AtomicU32::new(0),
            _reserved: AtomicU32::new(0),
            holder: AtomicU64::new(0),
            intent_from: AtomicU64::new(0),
            intent_to: AtomicU64::new(0),
        }
    }
}

impl RegistryEntry {
    pub(crate) fn new() -> Self {
        RegistryEntry {
            holder: AtomicU64::new(0),
            gen: AtomicU32::new(0),
            _reserved: AtomicU32::new(0),
        }
    }
}

/// Byte offsets of the regions for one configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub registry_off: usize,
    pub engines_off: usize,
    pub metas_off: usize,
    pub tickets_off: usize,
    pub bitmap_off: usize,
    pub total: usize,
}

/// Words of the free-slot bitmap for `max_tickets` slots.
pub(crate) const fn bitmap_words(max_tickets: u32) -> usize {
    (max_tickets as usize).div_ceil(64)
}

const fn align_up(n: usize, a: usize) -> usize {
    n.div_ceil(a) * a
}

impl Layout {
    /// The layout for `max_engines` engines and `max_tickets` tickets (both
    /// already validated, so nothing here can overflow on 64-bit targets).
    pub(crate) const fn for_sizes(max_engines: u32, max_tickets: u32) -> Layout {
        let registry_off = align_up(size_of::<Header>(), REGION_ALIGN);
        let engines_off = align_up(
            registry_off + REGISTRY_LEN * size_of::<RegistryEntry>(),
            REGION_ALIGN,
        );
        let metas_off = align_up(
            engines_off + max_engines as usize * size_of::<EngineWordCell>(),
            REGION_ALIGN,
        );
        let tickets_off = align_up(
            metas_off + max_engines as usize * size_of::<EngineMeta>(),
            REGION_ALIGN,
        );
        let bitmap_off = align_up(
            tickets_off + max_tickets as usize * size_of::<TicketSlot>(),
            REGION_ALIGN,
        );
        let total = align_up(
            bitmap_off + bitmap_words(max_tickets) * size_of::<u64>(),
            REGION_ALIGN,
        );
        Layout {
            registry_off,
            engines_off,
            metas_off,
            tickets_off,
            bitmap_off,
            total,
        }
    }
}

// The file format, checked at compile time: every size and offset a shared
// table's bytes depend on. A change here needs a new LAYOUT_VERSION.
#[cfg(not(loom))]
const _: () = {
    assert!(align_of::<EngineWordCell>() == CACHE_LINE);
    assert!(align_of::<EngineMeta>() == CACHE_LINE);
    assert!(align_of::<TicketSlot>() == CACHE_LINE);
    assert!(align_of::<Header>() == CACHE_LINE);
    assert!(REGION_ALIGN % CACHE_LINE == 0);

    assert!(size_of::<es_config>() == 24);
    assert!(offset_of!(es_config, max_engines) == 0);
    assert!(offset_of!(es_config, max_tickets) == 4);
    assert!(offset_of!(es_config, default_capacity) == 8);
    assert!(offset_of!(es_config, pending_lease_ms) == 12);
    assert!(offset_of!(es_config, active_lease_ms) == 16);
    assert!(offset_of!(es_config, policy) == 20);

    assert!(size_of::<Header>() == 384);
    assert!(offset_of!(Header, magic) == 0);
    assert!(offset_of!(Header, version) == 8);
    assert!(offset_of!(Header, ready) == 12);
    assert!(offset_of!(Header, total_size) == 16);
    assert!(offset_of!(Header, config) == 24);
    assert!(offset_of!(Header, tag) == 48);
    assert!(offset_of!(Header, engines_off) == 56);
    assert!(offset_of!(Header, metas_off) == 64);
    assert!(offset_of!(Header, tickets_off) == 72);
    assert!(offset_of!(Header, pid_ns) == 80);
    assert!(offset_of!(Header, time_ns) == 88);
    assert!(offset_of!(Header, registry_off) == 96);
    assert!(offset_of!(Header, bitmap_off) == 104);
    assert!(offset_of!(Header, control) == 128);
    assert!(offset_of!(Header, next_expiry) == 192);
    assert!(offset_of!(Header, sweep) == 256);
    assert!(offset_of!(Header, engine_hwm) == 320);

    assert!(size_of::<SweepState>() == 24);
    assert!(offset_of!(SweepState, lease) == 0);
    assert!(offset_of!(SweepState, deadline_ms) == 8);
    assert!(offset_of!(SweepState, full_sweeps) == 16);

    assert!(size_of::<RegistryEntry>() == 16);
    assert!(offset_of!(RegistryEntry, holder) == 0);
    assert!(offset_of!(RegistryEntry, gen) == 8);

    assert!(size_of::<EngineWordCell>() == 64);
    assert!(offset_of!(EngineWordCell, word) == 0);
    assert!(offset_of!(EngineWordCell, last_reserved_ns) == 8);

    assert!(size_of::<EngineMeta>() == 320);
    assert!(offset_of!(EngineMeta, key) == 0);
    assert!(offset_of!(EngineMeta, key_len) == 256);
    assert!(offset_of!(EngineMeta, key_hash) == 260);
    assert!(offset_of!(EngineMeta, priority) == 264);
    assert!(offset_of!(EngineMeta, external) == 268);
    assert!(offset_of!(EngineMeta, reserved_total) == 272);
    assert!(offset_of!(EngineMeta, expired_total) == 280);
    assert!(offset_of!(EngineMeta, user) == 288);

    assert!(size_of::<TicketSlot>() == 64);
    assert!(offset_of!(TicketSlot, word) == 0);
    assert!(offset_of!(TicketSlot, engine) == 8);
    assert!(offset_of!(TicketSlot, holder) == 16);
    assert!(offset_of!(TicketSlot, intent_from) == 24);
    assert!(offset_of!(TicketSlot, intent_to) == 32);
};
