//! [`Table`]: the one type that ties the parts together.
//!
//! The operations are `impl Table` blocks in modules named for what they do:
//! [`engines`] (registration and settings), [`reserve`], [`lifecycle`]
//! (commit, cancel, release, touch), [`reclaim`] (lease expiry and dead
//! holders), [`stats`], [`guard`] (RAII tickets) and [`shared`] (tables in
//! a file mapped by several processes); this module holds the struct, its
//! construction and the small helpers they share.

pub(crate) mod engines;
pub(crate) mod guard;
pub(crate) mod intent;
pub(crate) mod lifecycle;
pub(crate) mod reclaim;
pub(crate) mod reserve;
#[cfg(not(loom))]
pub(crate) mod shared;
pub(crate) mod stats;

use crate::bits::engine_word::EngineWord;
use crate::bits::handle::Engine;
use crate::config::{Config, Policy, MAX_LEASE_MS};
use crate::error::{Error, Result};
use crate::memory::layout::{EngineMeta, EngineWordCell, Header, TicketSlot};
use crate::memory::region::Region;
use crate::protocol::clock::{Clock, ManualClock};
use crate::sync::{AtomicU64, Ordering};

/// A fixed-size table of engines and tickets.
///
/// Every method takes `&self` and is safe to call from any number of threads
/// at once. Reserve, commit, cancel, release and touch never lock, allocate
/// or make a system call (the monotonic clock is read through the vDSO).
/// Engine add, remove, `set_priority` and `set_external` serialise on a
/// small control-plane lock; everything else is lock-free.
///
/// ```
/// use engine_slots::{Config, Table};
///
/// let table = Table::new(Config { max_engines: 4, max_tickets: 16, default_capacity: 2,
///                                 ..Config::default() })?;
/// let e = table.add_engine(b"engine-15", 0)?;          // capacity 0: the default, 2
/// let a = table.reserve()?.expect("room");
/// let b = table.reserve()?.expect("room");
/// assert_eq!(table.reserve()?, None);                  // full: never a third stream
/// table.commit(a.ticket)?;
/// table.cancel(b.ticket)?;                             // the stream failed to start
/// table.release(a.ticket)?;                            // the client left
/// assert_eq!(table.release(a.ticket), Err(engine_slots::Error::Stale)); // exactly once
/// assert_eq!(table.engine_stats(e)?.active, 0);
/// # Ok::<(), engine_slots::Error>(())
/// ```
pub struct Table {
    pub(crate) region: Region,
    pub(crate) config: Config,
    pub(crate) tag: u16,
    pub(crate) clock: Clock,
    /// Identity written into tickets (shared tables); 0 in-process.
    pub(crate) holder: u64,
    /// This handle's registry reference (shared tables), the operator every
    /// in-flight step of its threads names; 0 in-process.
    pub(crate) op: u32,
    /// Engine moves leave evidence a crash cannot lose ([`intent`]): shared
    /// tables, and loom models of them.
    pub(crate) crash_safe: bool,
    /// Loom models: operators (bit per reference) the holder scan treats as
    /// dead.
    #[cfg(loom)]
    pub(crate) loom_dead: std::sync::atomic::AtomicU64,
    /// When this handle last checked ticket holders for liveness (ns);
    /// rate-limits that scan inside `reserve`.
    pub(crate) last_holder_scan: AtomicU64,
}

impl Drop for Table {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        self.unregister();
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("config", &self.config)
            .field("bytes", &self.region.size())
            .finish_non_exhaustive()
    }
}

impl Table {
    /// Creates a table in this process's memory, timed by `CLOCK_MONOTONIC`.
    pub fn new(config: Config) -> Result<Table> {
        Table::with_clock(config, Clock::Monotonic)
    }

    /// Creates a table that reads lease time from `clock` (tests use a
    /// [`ManualClock`]).
    pub fn with_clock(config: Config, clock: Clock) -> Result<Table> {
        config.validate()?;
        let tag = random_tag();
        let region = Region::new_heap(&config, tag).ok_or(Error::TableFull)?;
        Ok(Table::from_region(region, config, tag, clock, 0, 0))
    }

    /// Loom models: an in-process table that takes the crash-safe steps of
    /// a shared one.
    #[cfg(loom)]
    pub(crate) fn crash_safe_for_loom(config: Config, clock: Clock) -> Result<Table> {
        let mut t = Table::with_clock(config, clock)?;
        t.crash_safe = true;
        Ok(t)
    }

    /// Wraps a region that already holds an initialised table.
    pub(crate) fn from_region(
        region: Region,
        config: Config,
        tag: u16,
        clock: Clock,
        holder: u64,
        op: u32,
    ) -> Table {
        let crash_safe = region.is_shared();
        Table {
            region,
            config,
            tag,
            clock,
            holder,
            op,
            crash_safe,
            #[cfg(loom)]
            loom_dead: std::sync::atomic::AtomicU64::new(0),
            last_holder_scan: AtomicU64::new(0),
        }
    }

    /// Shorthand for [`Table::with_clock`] with a manual clock.
    pub fn with_manual_clock(config: Config, clock: &ManualClock) -> Result<Table> {
        Table::with_clock(config, Clock::Manual(clock.clone()))
    }

    /// The configuration the table was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Bytes of memory the table occupies.
    pub fn memory_size(&self) -> usize {
        self.region.size()
    }

    #[inline]
    pub(crate) fn header(&self) -> &Header {
        self.region.header()
    }
    #[inline]
    pub(crate) fn words(&self) -> &[EngineWordCell] {
        self.region.engine_words()
    }
    #[inline]
    pub(crate) fn metas(&self) -> &[EngineMeta] {
        self.region.engine_metas()
    }
    #[inline]
    pub(crate) fn tickets(&self) -> &[TicketSlot] {
        self.region.tickets()
    }
    #[inline]
    pub(crate) fn policy(&self) -> Policy {
        self.config.policy
    }
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }
    /// Number of engine slots any scan must cover (bounded by the array).
    #[inline]
    pub(crate) fn engine_hwm(&self) -> usize {
        // Acquire pairs with the Release `fetch_max` in `add_engine`, so a
        // scan that covers a new slot also sees its published word.
        let hwm = self.header().engine_hwm.load(Ordering::Acquire) as usize;
        hwm.min(self.words().len())
    }
    /// The pending lease in ms (0 = none), capped to what a ticket stores.
    #[inline]
    pub(crate) fn pending_lease(&self) -> u32 {
        self.config.pending_lease_ms.min(MAX_LEASE_MS)
    }
    /// The active lease in ms (0 = none), capped to what a ticket stores.
    #[inline]
    pub(crate) fn active_lease(&self) -> u32 {
        self.config.active_lease_ms.min(MAX_LEASE_MS)
    }

    /// The slot of a live engine handle and the word seen, or `Stale`.
    #[inline]
    pub(crate) fn resolve(&self, e: Engine) -> Result<(u32, &EngineWordCell, EngineWord)> {
        let (index, gen) = e.unpack(self.tag).ok_or(Error::Stale)?;
        let cell = self.words().get(index as usize).ok_or(Error::Stale)?;
        // Acquire (inside) pairs with the Release CAS that published the
        // engine in `add_engine` (its metadata is then visible to the caller).
        let w = self.settled(cell);
        if w.is_registered() && w.generation() == gen {
            Ok((index, cell, w))
        } else {
            Err(Error::Stale)
        }
    }

    /// Applies `f` to the engine word of live handle `e` with one atomic
    /// read-modify-write. `f` returns `None` to leave the word unchanged.
    pub(crate) fn update_engine(
        &self,
        e: Engine,
        f: impl Fn(EngineWord) -> Option<EngineWord>,
    ) -> Result<EngineWord> {
        let (_, cell, _) = self.resolve(e)?;
        let (_, gen) = e.unpack(self.tag).ok_or(Error::Stale)?;
        loop {
            // Any move in flight on the engine is completed first: the CAS
            // below must start from counts, not from a descriptor.
            let w = self.settled(cell);
            if !w.is_registered() || w.generation() != gen {
                return Err(Error::Stale);
            }
            let Some(n) = f(w) else { return Ok(w) };
            // AcqRel: this word is the linearisation point of every engine
            // operation; Acquire/Release keeps the engine's metadata ordered
            // with it for readers that validate with the word. On failure
            // another thread changed the word (its operation took effect):
            // `f` is re-applied to the fresh value and the handle
            // re-validated, so the retry is correct.
            if cell
                .word
                .compare_exchange(w.0, n.0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(w);
            }
        }
    }
}

/// A per-table 16-bit tag that handles carry.
///
/// The low 15 bits (all a ticket handle has room for) walk a permutation of
/// `1..=32767` from a random start, so the tags of the last 32 767 tables
/// created in this process are all different: a handle of one is stale in
/// every other, not just probably. (Tables in other processes' shared files
/// carry random tags; there a foreign handle is stale with probability
/// 1 - 2^-15, and then its slot's generation must match too.)
fn random_tag() -> u16 {
    #[cfg(loom)]
    {
        0x5A5A
    }
    #[cfg(not(loom))]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::OnceLock;
        static START: OnceLock<u64> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let start = *START.get_or_init(|| {
            let local = 0u8;
            crate::protocol::random::splitmix64(
                crate::protocol::clock::monotonic_ns() ^ (&local as *const u8 as u64),
            )
        });
        // Relaxed: only uniqueness of the counter value matters.
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // 20_219 is coprime with 32_767 = 7 * 31 * 151, so n -> n * 20_219
        // (mod 32_767) is a permutation.
        let low = 1 + (start.wrapping_add(n.wrapping_mul(20_219)) % 32_767) as u16;
        low | ((start >> 40) as u16 & 0x8000)
    }
}
