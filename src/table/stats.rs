//! Read-only views: one engine's stats, a snapshot of all, ticket counts.
//!
//! Counts come from one load of the engine word, so `capacity`, `active`,
//! `pending` and `external` of one engine are always mutually consistent;
//! the metadata is validated against the word with the seqlock re-check.

use crate::bits::engine_word::{EngineState, MAX_CAPACITY};
use crate::bits::handle::Engine;
use crate::bits::ticket_word::{TicketState, TicketWord};
use crate::error::{Error, Result};
use crate::sync::{fence, Ordering};
use crate::table::engines::{read_key, KEY_MAX};
use crate::table::Table;

/// A consistent view of one engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineStats {
    /// The engine's handle.
    pub engine: Engine,
    key: [u8; KEY_MAX],
    key_len: u16,
    /// Most streams admitted at once.
    pub capacity: u32,
    /// Committed streams.
    pub active: u32,
    /// Reserved, not yet committed.
    pub pending: u32,
    /// Streams this table does not own (exact value last set).
    pub external: u32,
    /// Selection priority (higher wins ties).
    pub priority: i32,
    /// Health flag (a preference for selection).
    pub healthy: bool,
    /// Draining: admits nothing new.
    pub draining: bool,
    /// Admissions on this engine since it was added.
    pub reserved_total: u64,
    /// Tickets on this engine reclaimed by lease expiry.
    pub expired_total: u64,
    /// The caller's own word for the engine ([`Table::set_user`]).
    pub user: u64,
}

impl EngineStats {
    /// The engine's key.
    pub fn key(&self) -> &[u8] {
        &self.key[..self.key_len as usize]
    }
    /// The key as a string, lossily.
    pub fn key_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.key())
    }
    /// `active + pending + external`.
    pub fn load(&self) -> u64 {
        self.active as u64 + self.pending as u64 + self.external as u64
    }

    /// Stats read from elsewhere (a remote table); `None` if the key is
    /// empty or longer than `KEY_MAX`.
    #[cfg(not(loom))]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        engine: Engine,
        key: &[u8],
        capacity: u32,
        active: u32,
        pending: u32,
        external: u32,
        priority: i32,
        healthy: bool,
        draining: bool,
        reserved_total: u64,
        expired_total: u64,
        user: u64,
    ) -> Option<EngineStats> {
        if key.is_empty() || key.len() > KEY_MAX {
            return None;
        }
        let mut k = [0u8; KEY_MAX];
        k[..key.len()].copy_from_slice(key);
        Some(EngineStats {
            engine,
            key: k,
            key_len: key.len() as u16,
            capacity,
            active,
            pending,
            external,
            priority,
            healthy,
            draining,
            reserved_total,
            expired_total,
            user,
        })
    }
}

/// How many ticket slots are in each state; `free + pending + active +
/// in_flight` is the table's `max_tickets`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TicketCounts {
    /// Free (announced or parked).
    pub free: u32,
    /// Reserved, not committed.
    pub pending: u32,
    /// Committed.
    pub active: u32,
    /// Owned by a call in progress (between taking a slot and publishing
    /// its ticket, inside a commit, between finishing a ticket and freeing
    /// its slot), or left so by a process that died until the next sweep.
    pub in_flight: u32,
}

impl Table {
    /// Reads slot `index` if it holds a registered engine.
    fn read_stats(&self, index: usize) -> Option<EngineStats> {
        let cell = self.words().get(index)?;
        let meta = self.metas().get(index)?;
        loop {
            // Acquire (inside) pairs with the Release CAS in `add_engine`.
            let w = self.engine_view(cell);
            if !w.is_registered() {
                return None;
            }
            let (key, key_len) = read_key(meta);
            let priority = meta.priority.load(Ordering::Relaxed);
            // Below saturation the word's count is exact and is what
            // admission used; past it only the metadata has the exact value.
            let external = if w.external() < MAX_CAPACITY {
                w.external()
            } else {
                meta.external.load(Ordering::Relaxed)
            };
            let reserved_total = meta.reserved_total.load(Ordering::Relaxed);
            let expired_total = meta.expired_total.load(Ordering::Relaxed);
            let user = meta.user.load(Ordering::Relaxed);
            // Seqlock reader: keep the reads above before the re-check.
            fence(Ordering::Acquire);
            let again = self.engine_view(cell);
            if !again.is_registered() || again.generation() != w.generation() {
                // Removed (and maybe re-added) while we read: look again.
                continue;
            }
            return Some(EngineStats {
                engine: Engine::pack(self.tag, index as u32, w.generation()),
                key,
                key_len: key_len as u16,
                capacity: w.capacity(),
                active: w.active(),
                pending: w.pending(),
                external,
                priority,
                healthy: w.healthy(),
                draining: w.state() == EngineState::Draining,
                reserved_total,
                expired_total,
                user,
            });
        }
    }

    /// The current stats of engine `e`, or `Stale`.
    pub fn engine_stats(&self, e: Engine) -> Result<EngineStats> {
        let (index, _, _) = self.resolve(e)?;
        match self.read_stats(index as usize) {
            Some(s) if s.engine == e => Ok(s),
            _ => Err(Error::Stale),
        }
    }

    /// Calls `f` with the stats of every registered engine, in slot order.
    pub fn for_each_engine(&self, mut f: impl FnMut(&EngineStats)) {
        for index in 0..self.engine_hwm() {
            if let Some(s) = self.read_stats(index) {
                f(&s);
            }
        }
    }

    /// The stats of every registered engine, in slot order.
    pub fn snapshot(&self) -> Vec<EngineStats> {
        let mut v = Vec::new();
        self.for_each_engine(|s| v.push(*s));
        v
    }

    /// Writes the stats of the first `buf.len()` registered engines into
    /// `buf` and returns how many engines are registered in all.
    pub fn snapshot_into(&self, buf: &mut [EngineStats]) -> usize {
        let mut n = 0;
        self.for_each_engine(|s| {
            if let Some(slot) = buf.get_mut(n) {
                *slot = *s;
            }
            n += 1;
        });
        n
    }

    /// Ticket slots by state (a racy but per-slot-consistent count).
    pub fn ticket_counts(&self) -> TicketCounts {
        let mut c = TicketCounts::default();
        for slot in self.tickets() {
            // Relaxed: each slot is counted from one load.
            match TicketWord(slot.word.load(Ordering::Relaxed)).state() {
                TicketState::Pending => c.pending += 1,
                TicketState::Active => c.active += 1,
                TicketState::InFlight => c.in_flight += 1,
                TicketState::Free => c.free += 1,
            }
        }
        c
    }
}
