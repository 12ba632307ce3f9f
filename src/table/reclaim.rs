//! Winning back leaked tickets: lease expiry, and (shared tables) tickets
//! whose holder process no longer exists.
//!
//! There is no background thread. `reserve` sweeps when it finds no room,
//! and callers may sweep with [`Table::reclaim_expired`]. A table-wide hint
//! (the earliest deadline any live ticket may have) lets `reserve` skip the
//! sweep when nothing can have expired. The hint stays a lower bound:
//!
//! * a sweep resets it, fences, scans, and lowers it to what it saw;
//! * a publisher of a deadline fences, then lowers it if needed
//!   (`note_deadline`); the two SeqCst fences make at least one of them see
//!   the other;
//! * while a sweep is rebuilding it the hint is not trusted: the `sweeps`
//!   word counts sweeps in progress and finished, and a reserve skips its
//!   own sweep only if no sweep ran or finished around its read of the hint.

use crate::bits::ticket_word::{TicketState, TicketWord};
use crate::protocol::clock::ms32;
use crate::sync::{fence, Ordering};
use crate::table::Table;

/// Shared tables: how often a `reserve` that finds no room may look for
/// tickets of dead processes (it reads `/proc`, so not on every refusal).
const HOLDER_SCAN_INTERVAL_NS: u64 = 50_000_000;

const SWEEP_ONE: u64 = 1;
/// Rounds of backoff a refused reserve waits for running sweeps.
const SWEEP_WAIT_ROUNDS: u32 = if cfg!(loom) { 4 } else { 10_000 };
const SWEEP_DONE: u64 = (1 << 32) - 1; // in progress - 1, finished + 1

impl Table {
    /// Reclaims every ticket whose lease is over (and, in a shared table,
    /// every ticket of a process that no longer exists); returns how many.
    pub fn reclaim_expired(&self) -> u32 {
        self.reclaim_at(self.now_ns(), true)
    }

    /// `true` when the hint proves no lease can have run out at `now_ms`.
    fn nothing_due(&self, now_ms: u64) -> bool {
        let h = self.header();
        // SeqCst on all three: they are ordered with the sweep's SeqCst
        // updates of `sweeps`, so an unchanged, idle `sweeps` word around
        // the hint read means no sweep was rebuilding the hint then.
        let before = h.sweeps.load(Ordering::SeqCst);
        let hint = h.next_expiry_ms.load(Ordering::SeqCst);
        let after = h.sweeps.load(Ordering::SeqCst);
        before == after && before as u32 == 0 && now_ms < hint
    }

    /// Waits (bounded) for the sweeps running now to finish; `false` at once
    /// when none runs. Used only by a reserve about to answer "no capacity".
    pub(crate) fn wait_for_sweeps(&self) -> bool {
        let sweeps = &self.header().sweeps;
        // SeqCst: ordered with the sweeps' own SeqCst updates (see above).
        let start = sweeps.load(Ordering::SeqCst);
        let running = start as u32;
        if running == 0 {
            return false;
        }
        let backoff = crate::sync::Backoff::new();
        // Bounded: a sweeper in another process may have died mid-sweep.
        for _ in 0..SWEEP_WAIT_ROUNDS {
            let now = sweeps.load(Ordering::SeqCst);
            let finished = ((now >> 32) as u32).wrapping_sub((start >> 32) as u32);
            if now as u32 == 0 || finished >= running {
                break;
            }
            backoff.snooze();
        }
        true
    }

    /// Shared tables: whether this call should look for dead holders.
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
    /// when nothing can be due.
    pub(crate) fn reclaim_at(&self, now_ns: u64, force: bool) -> u32 {
        let leases = self.pending_lease() != 0 || self.active_lease() != 0;
        let holders = self.holder_scan_due(now_ns, force);
        let now_ms = now_ns / 1_000_000;
        let expiry = leases && (force || !self.nothing_due(now_ms));
        if !expiry && !holders {
            return 0;
        }
        let h = self.header();
        if expiry {
            h.sweeps.fetch_add(SWEEP_ONE, Ordering::SeqCst);
            h.next_expiry_ms.swap(u64::MAX, Ordering::SeqCst);
            // Pairs with the SeqCst fence in `note_deadline`: a ticket
            // published after this fence lowers the hint itself; one
            // published before it is seen by the scan below.
            fence(Ordering::SeqCst);
        }
        let (reclaimed, earliest) = self.sweep(now_ns, expiry, holders);
        if expiry {
            if earliest != u64::MAX {
                h.next_expiry_ms.fetch_min(earliest, Ordering::SeqCst);
            }
            h.sweeps.fetch_add(SWEEP_DONE, Ordering::SeqCst);
        }
        reclaimed
    }

    /// One pass over the tickets: expire those whose lease is over (when
    /// `expiry`), reclaim those of dead holders (when `holders`). Returns the
    /// count and the earliest deadline still running.
    fn sweep(&self, now_ns: u64, expiry: bool, holders: bool) -> (u32, u64) {
        let now_ms = now_ns / 1_000_000;
        let now = ms32(now_ns);
        let mut earliest = u64::MAX;
        let mut reclaimed = 0;
        #[cfg(not(loom))]
        let mut alive = crate::memory::holder::LivenessCache::new();
        for (index, slot) in self.tickets().iter().enumerate() {
            // Acquire pairs with the Release that published the ticket, so
            // `try_reclaim` sees its engine reference.
            let mut w = TicketWord(slot.word.load(Ordering::Acquire));
            loop {
                if !matches!(w.state(), TicketState::Pending | TicketState::Active) {
                    break;
                }
                let expired = expiry && self.lease_over(w, now);
                #[cfg(not(loom))]
                let orphan = holders && !w.busy() && self.holder_gone(slot, &mut alive);
                #[cfg(loom)]
                let orphan = holders && false;
                if expired || orphan {
                    if self.try_reclaim(index as u32, slot, w, expired) {
                        reclaimed += 1;
                        break;
                    }
                    // Changed under us (committed, finished, touched): look
                    // again at what it is now.
                    w = TicketWord(slot.word.load(Ordering::Acquire));
                    continue;
                }
                let lease = match w.state() {
                    TicketState::Pending => self.pending_lease(),
                    _ => self.active_lease(),
                };
                if lease != 0 {
                    // Still running (or busy committing): remember when.
                    let left = w.deadline().wrapping_sub(now) as i32;
                    earliest = earliest.min(now_ms.saturating_add(left.max(0) as u64));
                }
                break;
            }
        }
        (reclaimed, earliest)
    }

    /// Shared tables: the ticket's holder process is certainly gone.
    #[cfg(not(loom))]
    fn holder_gone(
        &self,
        slot: &crate::memory::layout::TicketSlot,
        alive: &mut crate::memory::holder::LivenessCache,
    ) -> bool {
        // Relaxed: written before the ticket was published (Acquire above).
        let holder = slot.holder.load(Ordering::Relaxed);
        holder != 0 && holder != self.holder && !alive.is_alive(holder)
    }
}
