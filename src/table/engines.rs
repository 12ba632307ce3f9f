//! Engine registration: keys, add / find / remove, and the settings an
//! orchestrator changes (capacity, health, priority, external load, drain).
//!
//! Keys are stored in atomic words and read with the seqlock discipline:
//! load the engine word (Acquire), read the key, `fence(Acquire)`, load the
//! word again; the key is that engine's only if the generation and state did
//! not change. A new key is written only into a free slot, after a
//! `fence(Release)`, under the control lock.

use crate::bits::engine_word::{EngineState, EngineWord, MAX_CAPACITY};
use crate::bits::handle::Engine;
use crate::error::{Error, Result};
use crate::memory::layout::{EngineMeta, KEY_WORDS};
use crate::sync::{fence, Ordering};
use crate::table::Table;

/// Longest engine key, in bytes: any DNS name or Kubernetes object name
/// (253) fits (C: `ES_KEY_MAX`). Exactly the key storage of an engine, so
/// `es_engine_stats` has no padding after its key.
pub const KEY_MAX: usize = 256;

const _: () = assert!(KEY_MAX == KEY_WORDS * 8 && KEY_MAX >= 253);

/// FNV-1a, 32 bits: a cheap filter before comparing whole keys.
fn key_hash(key: &[u8]) -> u32 {
    key.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() || key.len() > KEY_MAX {
        Err(Error::Invalid)
    } else {
        Ok(())
    }
}

/// Reads a slot's key bytes (not yet validated: see the module docs).
pub(crate) fn read_key(meta: &EngineMeta) -> ([u8; KEY_MAX], usize) {
    let mut words = [0u8; KEY_WORDS * 8];
    // Relaxed throughout: the caller validates with the engine word.
    let len = (meta.key_len.load(Ordering::Relaxed) as usize).min(KEY_MAX);
    for (chunk, word) in words
        .chunks_mut(8)
        .zip(meta.key.iter())
        .take(len.div_ceil(8))
    {
        chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
    }
    let mut out = [0u8; KEY_MAX];
    out.copy_from_slice(&words[..KEY_MAX]);
    (out, len)
}

/// Writes `key` into a free slot's metadata and resets its settings.
fn write_meta(meta: &EngineMeta, key: &[u8]) {
    // Release fence: readers that see any of these relaxed stores and then
    // run `fence(Acquire)` also see the free word we observed before writing,
    // so their generation re-check fails (the seqlock writer side).
    fence(Ordering::Release);
    let mut padded = [0u8; KEY_MAX];
    padded[..key.len()].copy_from_slice(key);
    for (word, chunk) in meta.key.iter().zip(padded.chunks(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        word.store(u64::from_le_bytes(b), Ordering::Relaxed);
    }
    meta.key_len.store(key.len() as u32, Ordering::Relaxed);
    meta.key_hash.store(key_hash(key), Ordering::Relaxed);
    meta.priority.store(0, Ordering::Relaxed);
    meta.external.store(0, Ordering::Relaxed);
    meta.reserved_total.store(0, Ordering::Relaxed);
    meta.expired_total.store(0, Ordering::Relaxed);
    meta.user.store(0, Ordering::Relaxed);
}

/// The settings of an engine, for [`Table::add_engine_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineSpec {
    /// Most streams at once, `1..=2047`; 0 = the table's default capacity.
    pub capacity: u32,
    /// Health flag (a preference for selection).
    pub healthy: bool,
    /// Selection priority (higher wins ties on load).
    pub priority: i32,
    /// Streams on the engine that this table does not own.
    pub external: u32,
    /// Added draining: admits nothing until `undrain`.
    pub draining: bool,
    /// The caller's own word for this engine (see [`Table::set_user`]).
    pub user: u64,
}

impl Default for EngineSpec {
    /// Default capacity, healthy, priority 0, no external load, not draining.
    fn default() -> Self {
        EngineSpec {
            capacity: 0,
            healthy: true,
            priority: 0,
            external: 0,
            draining: false,
            user: 0,
        }
    }
}

/// Holds the control-plane lock while alive.
pub(crate) struct ControlGuard<'a> {
    table: &'a Table,
}

impl Drop for ControlGuard<'_> {
    fn drop(&mut self) {
        // Release pairs with the Acquire CAS in `lock_control`: the next
        // holder sees every slot and key this holder wrote.
        self.table.header().control.store(0, Ordering::Release);
    }
}

impl Table {
    /// Takes the control-plane lock. In a shared table a holder that died
    /// while holding it is detected and its lock taken over; a live holder
    /// that keeps it for seconds (only a corrupt or hostile file can say so)
    /// gives `Corrupt` rather than a hang.
    pub(crate) fn lock_control(&self) -> Result<ControlGuard<'_>> {
        let lock = &self.header().control;
        let me = self.holder.max(1);
        let backoff = crate::sync::Backoff::new();
        #[cfg(not(loom))]
        let mut waited = 0u32;
        loop {
            // Acquire pairs with the Release store in `ControlGuard::drop`.
            // A failed CAS means another thread holds the lock; waiting for
            // it to let go and trying again is correct.
            match lock.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Ok(ControlGuard { table: self }),
                #[cfg(not(loom))]
                Err(owner) if owner != 0 && backoff.is_completed() && self.region.is_shared() => {
                    if !crate::memory::holder::is_alive(owner) {
                        // Its holder is gone: take it over (Acquire as above;
                        // a failure means someone else changed it first).
                        if lock
                            .compare_exchange(owner, me, Ordering::Acquire, Ordering::Relaxed)
                            .is_ok()
                        {
                            return Ok(ControlGuard { table: self });
                        }
                    }
                    waited += 1;
                    if waited > 5_000 {
                        return Err(Error::Corrupt);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(_) => backoff.snooze(),
            }
        }
    }

    /// Registers an engine under `key` (1 to 64 bytes of any value) with room
    /// for `capacity` streams; 0 means the table's default capacity. It
    /// starts live, healthy, priority 0, no external load.
    ///
    /// Errors: `Invalid` (key length, capacity above 2047), `Exists`,
    /// `TableFull` (no free engine slot).
    pub fn add_engine(&self, key: &[u8], capacity: u32) -> Result<Engine> {
        self.add_engine_with(
            key,
            &EngineSpec {
                capacity,
                ..EngineSpec::default()
            },
        )
    }

    /// Registers an engine with all its settings at once: it is never
    /// visible to a reservation with settings other than `spec` (an
    /// orchestrator's external load, say, counts from the first instant).
    pub fn add_engine_with(&self, key: &[u8], spec: &EngineSpec) -> Result<Engine> {
        check_key(key)?;
        let capacity = self.spec_capacity(spec)?;
        let _guard = self.lock_control()?;
        if self.find_engine(key).is_ok() {
            return Err(Error::Exists);
        }
        self.add_locked(key, spec, capacity)
    }

    /// The capacity `spec` asks for (0: the table's default), if valid.
    fn spec_capacity(&self, spec: &EngineSpec) -> Result<u32> {
        match spec.capacity {
            0 => Ok(self.config.default_capacity),
            c if c <= MAX_CAPACITY => Ok(c),
            _ => Err(Error::Invalid),
        }
    }

    /// The body of an add, under the control lock, for a valid key not yet
    /// registered.
    fn add_locked(&self, key: &[u8], spec: &EngineSpec, capacity: u32) -> Result<Engine> {
        // The lowest free slot keeps live engines dense, so scans (bounded
        // by the high-water mark) stay short.
        for (index, (cell, meta)) in self.words().iter().zip(self.metas()).enumerate() {
            // Acquire pairs with the removal CAS that freed the slot.
            let w = EngineWord(cell.word.load(Ordering::Acquire));
            if w.state() != EngineState::Free {
                continue;
            }
            write_meta(meta, key);
            // Relaxed: published by the Release CAS below, like the key.
            meta.priority.store(spec.priority, Ordering::Relaxed);
            meta.external.store(spec.external, Ordering::Relaxed);
            meta.user.store(spec.user, Ordering::Relaxed);
            // Never reserved: the oldest for selection's tie-break.
            cell.last_reserved_ns.store(0, Ordering::Relaxed);
            let mut live = EngineWord::live(w.generation(), capacity)
                .with_external(spec.external)
                .with_healthy(spec.healthy)
                .with_prioritized(spec.priority != 0);
            if spec.draining {
                live = live.draining();
            }
            // Release publishes the metadata written above together with the
            // engine (pairs with the Acquire loads in `resolve` and scans).
            // Only the control-lock holder changes a free word, so this CAS
            // fails only on a corrupt shared table: then try the next slot.
            if cell
                .word
                .compare_exchange(w.0, live.0, Ordering::Release, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // Release pairs with the Acquire in `engine_hwm`.
            self.header()
                .engine_hwm
                .fetch_max(index as u32 + 1, Ordering::Release);
            return Ok(Engine::pack(self.tag, index as u32, w.generation()));
        }
        Err(Error::TableFull)
    }

    /// The engine registered under `key`, registering it with `spec` if there
    /// is none: `(engine, true)` when this call added it. One step under the
    /// control lock, so concurrent callers with the same key all get the
    /// same engine and exactly one of them sees `true`.
    ///
    /// Errors: as [`add_engine_with`](Table::add_engine_with), never
    /// `Exists`.
    pub fn add_or_find(&self, key: &[u8], spec: &EngineSpec) -> Result<(Engine, bool)> {
        check_key(key)?;
        let capacity = self.spec_capacity(spec)?;
        let _guard = self.lock_control()?;
        match self.find_engine(key) {
            Ok(e) => Ok((e, false)),
            Err(_) => self.add_locked(key, spec, capacity).map(|e| (e, true)),
        }
    }

    /// The engine registered under `key`. Errors: `Invalid`, `NotFound`.
    pub fn find_engine(&self, key: &[u8]) -> Result<Engine> {
        check_key(key)?;
        let hash = key_hash(key);
        let hwm = self.engine_hwm();
        for (index, (cell, meta)) in self.words()[..hwm].iter().zip(self.metas()).enumerate() {
            // Acquire (inside) pairs with the Release CAS in `add_engine`.
            let w1 = self.engine_view(cell);
            if !w1.is_registered()
                || meta.key_hash.load(Ordering::Relaxed) != hash
                || meta.key_len.load(Ordering::Relaxed) as usize != key.len()
            {
                continue;
            }
            let (bytes, len) = read_key(meta);
            // Orders the key reads before the re-check (seqlock reader).
            fence(Ordering::Acquire);
            let w2 = self.engine_view(cell);
            if bytes[..len] == *key && w2.is_registered() && w2.generation() == w1.generation() {
                return Ok(Engine::pack(self.tag, index as u32, w1.generation()));
            }
        }
        Err(Error::NotFound)
    }

    /// Sets the caller's own word for the engine (an address, an index into
    /// the caller's tables): the table stores it, shows it in
    /// [`EngineStats::user`](crate::EngineStats::user), and in a shared
    /// table every process sees it. Never read by admission.
    pub fn set_user(&self, e: Engine, user: u64) -> Result<()> {
        let _guard = self.lock_control()?;
        let (index, _, _) = self.resolve(e)?;
        // Relaxed: a plain value, read by stats under the seqlock re-check;
        // the control lock orders it against removal and reuse of the slot.
        self.metas()[index as usize]
            .user
            .store(user, Ordering::Relaxed);
        Ok(())
    }

    /// Sets how many streams the engine admits, `1..=2047`. Lowering it below
    /// the current load revokes nothing; it only stops new admissions.
    pub fn set_capacity(&self, e: Engine, capacity: u32) -> Result<()> {
        if !(1..=MAX_CAPACITY).contains(&capacity) {
            // A bad handle is still reported as such.
            self.resolve(e)?;
            return Err(Error::Invalid);
        }
        self.update_engine(e, |w| Some(w.with_capacity(capacity)))
            .map(drop)
    }

    /// Marks the engine healthy or not. Unhealthy engines are still
    /// admissible; selection prefers healthy ones.
    pub fn set_healthy(&self, e: Engine, healthy: bool) -> Result<()> {
        self.update_engine(e, |w| Some(w.with_healthy(healthy)))
            .map(drop)
    }

    /// Sets the engine's priority (higher wins ties on load).
    pub fn set_priority(&self, e: Engine, priority: i32) -> Result<()> {
        let _guard = self.lock_control()?;
        let (index, _, _) = self.resolve(e)?;
        // Relaxed: read by selection as a tie-break only. The control lock
        // keeps a concurrent remove + add from slipping in between the
        // check above and this store.
        self.metas()[index as usize]
            .priority
            .store(priority, Ordering::Relaxed);
        // The word's `prioritized` bit tells selection whether to read it.
        self.update_engine(e, |w| Some(w.with_prioritized(priority != 0)))
            .map(drop)
    }

    /// Sets the number of streams on the engine that this table does not
    /// own; they count toward admission. Values above 2047 count as 2047
    /// (no capacity can admit more), the stats report the exact value.
    pub fn set_external(&self, e: Engine, streams: u32) -> Result<()> {
        let _guard = self.lock_control()?;
        let (index, _, _) = self.resolve(e)?;
        self.metas()[index as usize]
            .external
            .store(streams, Ordering::Relaxed);
        self.update_engine(e, |w| Some(w.with_external(streams)))
            .map(drop)
    }

    /// Stops new admissions on the engine; its tickets finish normally.
    pub fn drain(&self, e: Engine) -> Result<()> {
        self.update_engine(e, |w| Some(w.draining())).map(drop)
    }

    /// Admits on a drained engine again.
    pub fn undrain(&self, e: Engine) -> Result<()> {
        self.update_engine(e, |w| Some(w.undrained())).map(drop)
    }

    /// Removes the engine and frees its slot at once. Its tickets stay
    /// valid handles that can only be finished: commit gives `Stale`,
    /// cancel and release give `Ok`, and none touches the slot's next owner.
    pub fn remove_engine(&self, e: Engine) -> Result<()> {
        let _guard = self.lock_control()?;
        self.update_engine(e, |w| Some(w.removed())).map(drop)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::Config;

    fn table(n: u32) -> Table {
        Table::new(Config {
            max_engines: n,
            max_tickets: 8,
            default_capacity: 3,
            ..Config::default()
        })
        .unwrap()
    }

    #[test]
    fn keys() {
        let t = table(3);
        assert_eq!(t.add_engine(b"", 1), Err(Error::Invalid));
        assert_eq!(t.add_engine(&[7u8; KEY_MAX + 1], 1), Err(Error::Invalid));
        let long = t.add_engine(&[7u8; KEY_MAX], 1).unwrap();
        let nul = t.add_engine(b"a\0b", 0).unwrap();
        assert_eq!(t.find_engine(b"a\0b"), Ok(nul));
        assert_eq!(t.find_engine(b"a"), Err(Error::NotFound));
        assert_eq!(t.find_engine(&[7u8; KEY_MAX]), Ok(long));
        assert_eq!(t.add_engine(b"a\0b", 1), Err(Error::Exists));
        assert_eq!(t.add_engine(b"x", MAX_CAPACITY + 1), Err(Error::Invalid));
        t.add_engine(b"x", MAX_CAPACITY).unwrap();
        assert_eq!(t.add_engine(b"y", 1), Err(Error::TableFull));
        assert_eq!(t.engine_stats(nul).unwrap().capacity, 3);
    }

    #[test]
    fn removal_makes_handles_stale_forever() {
        let t = table(1);
        let a = t.add_engine(b"a", 1).unwrap();
        t.remove_engine(a).unwrap();
        assert_eq!(t.remove_engine(a), Err(Error::Stale));
        let b = t.add_engine(b"b", 1).unwrap();
        assert_ne!(a, b);
        for r in [
            t.set_capacity(a, 2),
            t.set_healthy(a, false),
            t.set_priority(a, 1),
            t.set_external(a, 1),
            t.drain(a),
            t.remove_engine(a),
        ] {
            assert_eq!(r, Err(Error::Stale));
        }
        let s = t.engine_stats(b).unwrap();
        assert_eq!(
            (s.capacity, s.external, s.priority, s.healthy, s.draining),
            (1, 0, 0, true, false)
        );
        assert_eq!(t.find_engine(b"a"), Err(Error::NotFound));
    }

    #[test]
    fn settings() {
        let t = table(2);
        let e = t.add_engine(b"e", 2).unwrap();
        assert_eq!(t.set_capacity(e, 0), Err(Error::Invalid));
        assert_eq!(t.set_capacity(Engine::from_raw(0), 0), Err(Error::Stale));
        t.set_capacity(e, 5).unwrap();
        t.set_priority(e, -3).unwrap();
        t.set_healthy(e, false).unwrap();
        t.set_external(e, 100_000).unwrap();
        t.drain(e).unwrap();
        t.drain(e).unwrap();
        let s = t.engine_stats(e).unwrap();
        assert_eq!(
            (s.capacity, s.priority, s.healthy, s.external, s.draining),
            (5, -3, false, 100_000, true)
        );
        t.undrain(e).unwrap();
        assert!(!t.engine_stats(e).unwrap().draining);
    }
}
