//! Winning back leaked tickets: lease expiry, and (shared tables) tickets
//! and in-flight steps of processes that no longer exist.
//!
//! There is no background thread. `reserve` sweeps when it finds no room,
//! and callers may sweep with [`Table::reclaim_expired`]. A table-wide hint
//! (the earliest deadline any live ticket may have) lets `reserve` skip the
//! sweep when nothing can have expired. The hint stays a lower bound:
//!
//! * a sweep that holds the *sweep lease* resets it, fences, scans, and
//!   lowers it to what it saw;
//! * a publisher of a deadline fences, then lowers it if needed
//!   (`note_deadline`); the two SeqCst fences make at least one of them see
//!   the other;
//! * while the lease is held the hint is not trusted.
//!
//! The lease (`crate::bits::sweep::Lease`) names its holder and runs out
//! unless renewed: a sweeper that died is taken over at once (its registry
//! entry says so), one that is stuck when its lease runs out. Taking the
//! lease advances its sequence number in the same compare-and-swap, and a
//! sweep resets the hint only if no newer lease reset it since
//! (`Hint::reset_by_older_than`), so a stuck sweeper that wakes up after it
//! was taken over can only *lower* the hint, which is always safe. An
//! interrupted sweep therefore leaves nothing behind: the next refused
//! reserve takes the lease over, sweeps once, and the hint is trusted again.
//!
//! A refused reserve sweeps only when the hint says something may be due
//! (or a process died: its registry entry tells); while a live sweeper holds
//! the lease it waits for that sweep (at most about as long as a sweep of the
//! table takes) instead of sweeping too.

use crate::bits::sweep::{Hint, Lease, NO_DEADLINE};
use crate::bits::ticket_word::{Kind, TicketWord};
use crate::memory::holder::LivenessCache;
use crate::protocol::clock::ms32;
use crate::sync::{fence, Ordering};
use crate::table::intent::crash_point;
use crate::table::Table;

/// Shared tables: how often a `reserve` that finds no room may look for
/// processes that died (it reads `/proc`, so not on every refusal).
const HOLDER_SCAN_INTERVAL_NS: u64 = 50_000_000;
/// How long a sweep lease lasts unless renewed (ms).
const SWEEP_LEASE_MS: u64 = 100;
/// A sweep renews its lease every this many slots.
const RENEW_EVERY: usize = 256;
/// Rounds a refused reserve waits for a live sweeper under loom.
#[cfg(loom)]
const SWEEP_WAIT_ROUNDS: u32 = 4;
/// Dead registry entries one pass frees at most (the next pass gets the
/// rest).
const DEAD_PER_PASS: usize = 16;

impl Table {
    /// Reclaims every ticket whose lease is over (and, in a shared table,
    /// every ticket and every unfinished step of a process that no longer
    /// exists); returns how many tickets.
    pub fn reclaim_expired(&self) -> u32 {
        self.reclaim_at(self.now_ns(), true).0
    }

    /// Full passes over the ticket slots this table has made, by any
    /// process: what tests check to know that a refused reserve did not
    /// sweep.
    pub fn full_sweeps(&self) -> u64 {
        // Relaxed: a statistic.
        self.header().sweep.full_sweeps.load(Ordering::Relaxed)
    }

    /// `true` when the hint proves no lease can have run out at `now_ms`.
    fn nothing_due(&self, now_ms: u64) -> bool {
        let h = self.header();
        // SeqCst on all three: ordered with the lease's SeqCst updates, so
        // an unchanged, free lease around the hint read means no sweep was
        // rebuilding the hint then.
        let before = h.sweep.lease.load(Ordering::SeqCst);
        let hint = Hint(h.next_expiry.load(Ordering::SeqCst));
        let after = h.sweep.lease.load(Ordering::SeqCst);
        before == after && !Lease(before).held() && now_ms < hint.ms()
    }

    /// Lowers the hint to `ms` if that is lower (always safe).
    pub(crate) fn lower_hint(&self, ms: u64) {
        let hint = &self.header().next_expiry;
        let mut cur = Hint(hint.load(Ordering::SeqCst));
        // SeqCst: ordered with the sweeps' resets (see the module docs). A
        // failure means another lowering or a reset got in first: lowering
        // from the value it left is correct.
        while ms < cur.ms() {
            match hint.compare_exchange(
                cur.0,
                cur.lowered(ms).0,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(actual) => cur = Hint(actual),
            }
        }
    }

    /// Takes the sweep lease at `now_ms` if it is free, run out, or held by
    /// an operator that is gone.
    fn take_lease(&self, now_ms: u64, alive: &mut LivenessCache) -> Option<Lease> {
        let s = &self.header().sweep;
        // SeqCst: the lease, the deadline and the hint are one protocol
        // (see the module docs); none of this is on a hot path.
        let cur = Lease(s.lease.load(Ordering::SeqCst));
        if cur.held() {
            let over = now_ms >= s.deadline_ms.load(Ordering::SeqCst);
            if !over && !self.op_gone(cur.holder(), alive) {
                return None;
            }
        }
        // The deadline before the lease, so a fresh lease never shows an old
        // deadline (which would let it be taken over at once). We write it
        // only when the lease is free or ours to take over.
        s.deadline_ms
            .store(now_ms + SWEEP_LEASE_MS, Ordering::SeqCst);
        let mine = cur.taken_by(self.op());
        // No retry: a failure means another sweeper took the lease first,
        // and it will sweep.
        s.lease
            .compare_exchange(cur.0, mine.0, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| mine)
    }

    /// Waits (bounded) for the live sweeper that holds the lease: until it
    /// gives the lease back, or about as long as a sweep of this table
    /// takes, or its lease runs out.
    fn wait_for_sweep(&self) {
        let s = &self.header().sweep;
        // SeqCst as in `take_lease`.
        let held = s.lease.load(Ordering::SeqCst);
        if !Lease(held).held() {
            return;
        }
        let backoff = crate::sync::Backoff::new();
        #[cfg(loom)]
        for _ in 0..SWEEP_WAIT_ROUNDS {
            if s.lease.load(Ordering::SeqCst) != held {
                break;
            }
            backoff.snooze();
        }
        #[cfg(not(loom))]
        {
            // A sweep reads one line per ticket slot: tens of ns each.
            let budget_ns = 50_000 + 50 * self.tickets().len() as u64;
            let start = self.now_ns();
            while s.lease.load(Ordering::SeqCst) == held {
                let now = self.now_ns();
                if now.saturating_sub(start) > budget_ns
                    || now / 1_000_000 >= s.deadline_ms.load(Ordering::SeqCst)
                {
                    break;
                }
                backoff.snooze();
            }
        }
    }

    /// Shared tables: whether this call should ask the registry for dead
    /// processes.
    #[cfg_attr(loom, allow(dead_code))]
    fn holder_scan_due(&self, now_ns: u64, force: bool) -> bool {
        if !self.region.is_shared() {
            return false;
        }
        if force {
            return true;
        }
        let last = self.last_holder_scan.load(Ordering::Relaxed);
        // Relaxed: a per-handle rate limit; losing the race only means
        // another thread of this process scans instead of us.
        now_ns.saturating_sub(last) >= HOLDER_SCAN_INTERVAL_NS
            && self
                .last_holder_scan
                .compare_exchange(last, now_ns, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Sweeps the tickets at time `now_ns`. Unless `force`, returns at once
    /// when nothing can be due and no process died. Returns how many
    /// tickets it reclaimed, and a slot it found being finished by another
    /// live thread (with the word it had), if any: that thread is about to
    /// give an engine its count back.
    pub(crate) fn reclaim_at(&self, now_ns: u64, force: bool) -> (u32, Option<(u32, u64)>) {
        let leases = self.pending_lease() != 0 || self.active_lease() != 0;
        let now_ms = now_ns / 1_000_000;
        let mut alive = LivenessCache::new();
        #[cfg_attr(loom, allow(unused_mut, unused_variables))]
        let mut dead = [(0usize, 0u64); DEAD_PER_PASS];
        #[cfg_attr(loom, allow(unused_mut))]
        let mut ndead = 0;
        #[cfg(not(loom))]
        let scan_due = self.holder_scan_due(now_ns, force);
        #[cfg(loom)]
        let scan_due = false;
        #[cfg(not(loom))]
        if scan_due {
            (dead, ndead) =
                crate::memory::registry::dead_entries(self.region.registry(), &mut alive);
        }
        let expiry = leases && (force || !self.nothing_due(now_ms));
        // Every ticket's holder is checked when asked to, when a registered
        // process died, and (at most every 50 ms) by a lease sweep that runs
        // anyway (for a process that closed its handle before it died);
        // otherwise only in-flight steps are.
        let holders = (force && (self.region.is_shared() || (cfg!(loom) && self.crash_safe)))
            || ndead > 0
            || (expiry && scan_due);
        if !(expiry || holders || (force && self.crash_safe)) {
            return (0, None);
        }
        let lease = if expiry {
            self.take_lease(now_ms, &mut alive)
        } else {
            None
        };
        if expiry && lease.is_none() && !force && !holders {
            // A live sweeper is rebuilding the hint and will find what is
            // due: wait for it rather than sweep for nothing.
            self.wait_for_sweep();
            return (0, None);
        }
        crash_point();
        if let Some(l) = lease {
            self.reset_hint(l);
        }
        let h = self.header();
        // Relaxed: a statistic.
        h.sweep.full_sweeps.fetch_add(1, Ordering::Relaxed);
        let (reclaimed, earliest, finishing) = self.sweep(now_ns, lease, holders, &mut alive);
        if earliest != NO_DEADLINE {
            self.lower_hint(earliest);
        }
        crash_point();
        if let Some(l) = lease {
            // SeqCst as in `take_lease`. Failure: we were taken over (we
            // were too slow), and the new holder gives it back.
            let _ = h.sweep.lease.compare_exchange(
                l.0,
                l.released().0,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
        #[cfg(not(loom))]
        crate::memory::registry::free_dead(self.region.registry(), &dead[..ndead]);
        (reclaimed, finishing)
    }

    /// Waits (bounded) until slot `index` no longer holds word `w`: a
    /// ticket another thread is finishing, whose engine count a refused
    /// reserve may be waiting for.
    pub(crate) fn wait_for_slot(&self, index: u32, w: u64) {
        let Some(slot) = self.tickets().get(index as usize) else {
            return;
        };
        let backoff = crate::sync::Backoff::new();
        #[cfg(loom)]
        let rounds = SWEEP_WAIT_ROUNDS;
        #[cfg(not(loom))]
        let rounds = 1_000;
        for _ in 0..rounds {
            // Acquire pairs with the Release that took the slot out of
            // flight: the engine's count moved before it.
            if slot.word.load(Ordering::Acquire) != w {
                return;
            }
            backoff.snooze();
        }
    }

    /// Resets the hint for a sweep under lease `l`, unless a newer lease
    /// reset it already (we were taken over before we got here).
    fn reset_hint(&self, l: Lease) {
        let hint = &self.header().next_expiry;
        let mut cur = Hint(hint.load(Ordering::SeqCst));
        // SeqCst: see the module docs. A failure means a publisher lowered
        // the hint meanwhile: resetting from the value it left is correct
        // (the scan below sees its ticket, published before its lowering).
        while cur.reset_by_older_than(l.seq()) {
            match hint.compare_exchange(
                cur.0,
                Hint::new(NO_DEADLINE, l.seq()).0,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(actual) => cur = Hint(actual),
            }
        }
        crash_point();
        // Pairs with the SeqCst fence in `note_deadline`: a ticket
        // published after this fence lowers the hint itself; one published
        // before it is seen by the scan.
        fence(Ordering::SeqCst);
    }

    /// One pass over the tickets: expire those whose lease is over, finish
    /// or undo in-flight steps of operators that are gone, reclaim tickets
    /// of dead holders (when `holders`). Returns the count of tickets, the
    /// earliest deadline still running, and the first ticket seen being
    /// finished by a live operator (slot, word).
    fn sweep(
        &self,
        now_ns: u64,
        lease: Option<Lease>,
        holders: bool,
        alive: &mut LivenessCache,
    ) -> (u32, u64, Option<(u32, u64)>) {
        let now_ms = now_ns / 1_000_000;
        let now = ms32(now_ns);
        let mut earliest = NO_DEADLINE;
        let mut reclaimed = 0;
        let mut finishing = None;
        for (index, slot) in self.tickets().iter().enumerate() {
            if let Some(l) = lease {
                if index % RENEW_EVERY == RENEW_EVERY - 1 {
                    self.renew(l);
                }
            }
            crash_point();
            // Acquire pairs with the Release that published the word, so
            // `try_reclaim` and `recover` see the ticket's fields.
            let mut w = TicketWord(slot.word.load(Ordering::Acquire));
            // Bounded: each round follows a change of the word (ours or
            // another thread's); a corrupt file cannot make it spin.
            for _ in 0..8 {
                match w.kind() {
                    Kind::Free => {}
                    Kind::Pending | Kind::Active => {
                        let expired = self.lease_over(w, now);
                        let orphan = holders && self.holder_gone(slot, alive);
                        if expired || orphan {
                            if self.try_reclaim(index as u32, slot, w, expired) {
                                reclaimed += 1;
                                break;
                            }
                            // Changed under us (committed, finished,
                            // touched): look again at what it is now.
                            w = TicketWord(slot.word.load(Ordering::Acquire));
                            continue;
                        }
                        let lease = match w.kind() {
                            Kind::Pending => self.pending_lease(),
                            _ => self.active_lease(),
                        };
                        if lease != 0 {
                            // Still running: remember when it ends.
                            let left = w.deadline().wrapping_sub(now) as i32;
                            earliest = earliest.min(now_ms.saturating_add(left.max(0) as u64));
                        }
                    }
                    Kind::Parked => {
                        if self.crash_safe && self.op_gone(w.operator(), alive) {
                            // Parked by a thread of a dead process: announce
                            // it, so reserves find it without stealing.
                            self.announce_parked(index as u32, slot, w);
                        }
                    }
                    _ => {
                        // In flight. A live operator finishes it (and
                        // notes its new deadline itself).
                        if self.crash_safe && self.op_gone(w.operator(), alive) {
                            self.recover(index as u32, slot, w, now_ns);
                            w = TicketWord(slot.word.load(Ordering::Acquire));
                            continue;
                        }
                        if finishing.is_none()
                            && matches!(w.kind(), Kind::FinishingPending | Kind::FinishingActive)
                        {
                            finishing = Some((index as u32, w.0));
                        }
                    }
                }
                break;
            }
        }
        (reclaimed, earliest, finishing)
    }

    /// Extends lease `l` if it is still ours.
    fn renew(&self, l: Lease) {
        let s = &self.header().sweep;
        // SeqCst as in `take_lease`.
        if s.lease.load(Ordering::SeqCst) == l.0 {
            let now_ms = self.now_ns() / 1_000_000;
            s.deadline_ms
                .store(now_ms + SWEEP_LEASE_MS, Ordering::SeqCst);
        }
    }

    /// Moves a parked slot (word `w`) of a dead thread to the bitmap.
    fn announce_parked(&self, index: u32, slot: &crate::memory::layout::TicketSlot, w: TicketWord) {
        let bits = self.region.free_bits();
        if let Some(b) = bits.get(index as usize / 64) {
            // Relaxed: a hint, set before the word is free.
            b.fetch_or(1 << (index % 64), Ordering::Relaxed);
        }
        // AcqRel: Acquire as a claim would, Release for the next claimer.
        // Failure: someone claimed it meanwhile; the stale bit is harmless.
        let _ = slot
            .word
            .compare_exchange(w.0, w.freed().0, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Shared tables: the ticket's holder process is certainly gone.
    fn holder_gone(
        &self,
        slot: &crate::memory::layout::TicketSlot,
        alive: &mut LivenessCache,
    ) -> bool {
        // Relaxed: written before the ticket was published (Acquire above).
        let holder = slot.holder.load(Ordering::Relaxed);
        #[cfg(loom)]
        if self.crash_safe {
            return self.op_gone(holder as u32, alive);
        }
        holder != 0 && holder != self.holder && !alive.is_alive(holder)
    }
}
