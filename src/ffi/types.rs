//! The plain C types of the API: handles, configuration, statistics.

use crate::{EngineStats, Policy, TicketCounts};

/// Longest engine key, in bytes: keys are 1 to `ES_KEY_MAX` bytes of any
/// value (NUL bytes included; a key is not a C string).
pub const ES_KEY_MAX: usize = 256;

const _: () = assert!(ES_KEY_MAX == crate::KEY_MAX);

/// A handle to a registered engine. It embeds a slot index, a generation
/// and a per-table tag; 0 is never valid. Once the engine is removed the
/// handle is stale forever (`ES_ERR_STALE`), even after its slot is reused.
pub type es_engine = u64;

/// A handle to one stream's claim on one engine (slot index, generation,
/// per-table tag); 0 is never valid. Once the ticket is finished (released,
/// cancelled, expired) the handle is stale forever.
pub type es_ticket = u64;

/// How `es_reserve` picks an engine (`es_config.policy`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum es_policy {
    /// Among engines with room: healthy first, then the lowest load relative
    /// to capacity, then the higher priority, then the engine whose last
    /// reservation is oldest, then any of the engines still equal (spread
    /// over concurrent reservers). The default.
    ES_POLICY_LEAST_LOADED = 0,
    /// The fullest engine that still has room (healthy first), so idle
    /// engines can be scaled down.
    ES_POLICY_FILL_FIRST = 1,
    /// Two random engines with room; the less loaded wins. Time independent
    /// of the table size.
    ES_POLICY_TWO_CHOICES = 2,
}

const _: () = {
    assert!(es_policy::ES_POLICY_LEAST_LOADED as u32 == Policy::LeastLoaded as u32);
    assert!(es_policy::ES_POLICY_FILL_FIRST as u32 == Policy::FillFirst as u32);
    assert!(es_policy::ES_POLICY_TWO_CHOICES as u32 == Policy::TwoChoices as u32);
};

/// The configuration struct lives with [`Config`](crate::Config) (the
/// shared-file header stores the very same struct); `tests/header_fresh.rs`
/// hands `src/config.rs` to cbindgen so it appears in the header here.
pub use crate::config::es_config;

/// A consistent view of one engine (`es_engine_stats_get`,
/// `es_table_snapshot`). `capacity`, `active`, `pending` and the admission
/// state come from one atomic read, so they agree with each other.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct es_engine_stats {
    /// The engine's handle.
    pub engine: es_engine,
    /// The key's bytes; only the first `key_len` are meaningful, the rest
    /// are 0. Not NUL-terminated when `key_len == ES_KEY_MAX`.
    pub key: [u8; ES_KEY_MAX],
    /// Length of the key, 1 to ES_KEY_MAX.
    pub key_len: u32,
    /// Most streams admitted at once.
    pub capacity: u32,
    /// Committed streams.
    pub active: u32,
    /// Reserved, not yet committed streams.
    pub pending: u32,
    /// Streams on the engine that this table does not own (the exact value
    /// last set; admission counts at most 2047 of them).
    pub external: u32,
    /// Selection priority (higher wins ties on load).
    pub priority: i32,
    /// Health flag: a preference for selection, not an exclusion.
    pub healthy: bool,
    /// Draining: admits nothing new.
    pub draining: bool,
    /// Admissions on this engine since it was added.
    pub reserved_total: u64,
    /// Tickets on this engine reclaimed by lease expiry.
    pub expired_total: u64,
    /// The caller's own word for the engine (`es_engine_set_user`,
    /// `es_engine_spec.user`); 0 unless set.
    pub user: u64,
}

impl From<&EngineStats> for es_engine_stats {
    fn from(s: &EngineStats) -> es_engine_stats {
        let mut key = [0u8; ES_KEY_MAX];
        let k = s.key();
        key[..k.len()].copy_from_slice(k);
        es_engine_stats {
            engine: s.engine.raw(),
            key,
            key_len: k.len() as u32,
            capacity: s.capacity,
            active: s.active,
            pending: s.pending,
            external: s.external,
            priority: s.priority,
            healthy: s.healthy,
            draining: s.draining,
            reserved_total: s.reserved_total,
            expired_total: s.expired_total,
            user: s.user,
        }
    }
}

/// Extension (not in the product contract): how many ticket slots of a
/// table are in each state (`es_table_ticket_counts`);
/// `free + pending + active + in_flight == max_tickets`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct es_ticket_counts {
    /// Free ticket slots.
    pub free: u32,
    /// Reserved, not yet committed tickets.
    pub pending: u32,
    /// Committed tickets.
    pub active: u32,
    /// Slots owned by a call in progress (or left so by a process that
    /// died, until the next `es_reclaim_expired`).
    pub in_flight: u32,
}

impl From<TicketCounts> for es_ticket_counts {
    fn from(c: TicketCounts) -> es_ticket_counts {
        es_ticket_counts {
            free: c.free,
            pending: c.pending,
            active: c.active,
            in_flight: c.in_flight,
        }
    }
}

// The C layout is part of the ABI: changing a size is a breaking change.
const _: () = {
    assert!(std::mem::size_of::<es_config>() == 24);
    assert!(std::mem::size_of::<es_engine_stats>() == 320);
    assert!(std::mem::size_of::<es_ticket_counts>() == 16);
    // No padding after the key: every byte C sees was written.
    assert!(std::mem::offset_of!(es_engine_stats, key_len) == 8 + ES_KEY_MAX);
    assert!(std::mem::size_of::<es_policy>() == 4);
};
