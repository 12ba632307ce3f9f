//! The ticket life cycle after admission: commit, cancel, release, touch.
//!
//! Each operation is decided by one compare-and-swap on the ticket word,
//! which holds state, generation and deadline together, so of any set of
//! racing operations on one ticket exactly one that expects a given state
//! wins, and a lease that has run out turns every operation into expiry.
//! The winning CAS moves the word to an in-flight kind that names this
//! thread's operator (`Committing`, `Finishing*`); only then does the
//! operation move the engine's counts (see [`crate::table::intent`]),
//! checking the engine generation the ticket recorded: a ticket of a removed
//! engine never touches the slot's next owner. Every other operation treats
//! an in-flight ticket as not (yet) in the state it wants, so a release can
//! never decrement `active` before the commit incremented it.

use crate::bits::handle::Ticket;
use crate::bits::moves::Move;
use crate::bits::ticket_word::{unpack_engine_ref, Kind, TicketWord};
use crate::error::{Error, Result};
use crate::memory::layout::TicketSlot;
use crate::protocol::clock::{ms32, reached};
use crate::sync::Ordering;
use crate::table::intent::crash_point;
use crate::table::Table;

impl Table {
    /// The slot of ticket `t` and the generation it claims.
    #[inline]
    pub(crate) fn ticket_slot(&self, t: Ticket) -> Result<(u32, u32, &TicketSlot)> {
        let (index, gen) = t.unpack(self.tag).ok_or(Error::Stale)?;
        let slot = self.tickets().get(index as usize).ok_or(Error::Stale)?;
        Ok((index, gen, slot))
    }

    /// `true` when `w`'s lease (for its state) has run out at `now` (ms32).
    #[inline]
    pub(crate) fn lease_over(&self, w: TicketWord, now: u32) -> bool {
        let lease = match w.kind() {
            Kind::Pending => self.pending_lease(),
            Kind::Active => self.active_lease(),
            _ => 0,
        };
        lease != 0 && reached(now, w.deadline())
    }

    /// Finishes the ticket whose word this thread moved to `finishing` (a
    /// `Finishing*` word): drops its count on the engine, then returns the
    /// slot to the free slots.
    pub(crate) fn retire(
        &self,
        index: u32,
        slot: &TicketSlot,
        finishing: TicketWord,
        expired: bool,
    ) {
        let mv = match finishing.kind() {
            Kind::FinishingPending => Move::DropPending,
            _ => Move::DropActive,
        };
        self.retire_by(index, slot, finishing, mv, expired);
    }

    /// `retire` with the engine move given (`DropPending`, `DropActive` or
    /// `ActiveToExternal`, matching the `finishing` word's kind); `true` if
    /// the engine's counts moved (it was still registered).
    pub(crate) fn retire_by(
        &self,
        index: u32,
        slot: &TicketSlot,
        finishing: TicketWord,
        mv: Move,
        expired: bool,
    ) -> bool {
        let owned = finishing.finished(finishing.operator());
        let made = self.move_engine(index, slot, finishing, mv, owned, owned);
        if made && expired {
            // Relaxed: written before the ticket was published.
            let (eindex, _) = unpack_engine_ref(slot.engine.load(Ordering::Relaxed));
            if let Some(meta) = self.metas().get(eindex as usize) {
                meta.expired_total.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.give_back(index, owned);
        crash_point();
        made
    }

    /// Tries to reclaim `slot` whose word was `w` (pending or active) and
    /// whose lease is over (`expired`, counted in the engine's
    /// `expired_total`) or whose holder is gone. `false` if another thread
    /// changed the word first.
    pub(crate) fn try_reclaim(
        &self,
        index: u32,
        slot: &TicketSlot,
        w: TicketWord,
        expired: bool,
    ) -> bool {
        let finishing = w.finishing(self.op());
        // AcqRel: Acquire to see the engine reference, Release so that a
        // helper or recoverer that reads our in-flight word sees what we did.
        let won = slot
            .word
            .compare_exchange(w.0, finishing.0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            crash_point();
            self.retire(index, slot, finishing, expired);
        }
        won
    }

    /// Runs `decide` on the current word of ticket `t` until its CAS wins or
    /// it gives up. `decide` returns the next word, or an error. If the lease
    /// is over, the ticket is reclaimed instead and the answer is `Stale`.
    #[inline]
    fn transition(
        &self,
        t: Ticket,
        want: Kind,
        decide: impl Fn(TicketWord) -> TicketWord,
    ) -> Result<(u32, &TicketSlot, TicketWord, TicketWord)> {
        let base_ms = self.lease_base_ms(self.clock.coarse_ns());
        self.transition_at(t, want, base_ms, decide)
    }

    /// [`transition`](Table::transition) with the lease check starting from
    /// `base_ms`, a [`lease_base_ms`](Table::lease_base_ms) of a coarse
    /// reading this thread took before the call (the caller's own, which
    /// spares a second clock read).
    fn transition_at(
        &self,
        t: Ticket,
        want: Kind,
        base_ms: u64,
        decide: impl Fn(TicketWord) -> TicketWord,
    ) -> Result<(u32, &TicketSlot, TicketWord, TicketWord)> {
        let (index, gen, slot) = self.ticket_slot(t)?;
        // The lease check starts from the coarse clock's upper bound on the
        // precise time (at the caller's reading, taken before the ticket
        // word is loaded below): a lease that has not run out by then is
        // certainly running, and only one that may have is checked
        // precisely.
        let mut now = base_ms as u32;
        let mut precise = self.clock.coarse_slack_ns() == 0;
        // Acquire pairs with the Release stores/CASes that published this
        // incarnation of the ticket (its engine reference in particular).
        let mut cur = TicketWord(slot.word.load(Ordering::Acquire));
        loop {
            if !cur.is(want, gen) {
                return Err(Error::Stale);
            }
            if self.lease_over(cur, now) {
                if !precise {
                    now = ms32(self.now_ns());
                    precise = true;
                    continue;
                }
                if self.try_reclaim(index, slot, cur, true) {
                    return Err(Error::Stale);
                }
                // Someone else changed the ticket first: look again.
                cur = TicketWord(slot.word.load(Ordering::Acquire));
                continue;
            }
            let next = decide(cur);
            // AcqRel: Acquire as above; Release so that whoever next reads
            // this word (the same holder later, a sweeper, the slot's next
            // owner) sees what we did before. On failure another thread
            // changed the word (expiry, a racing operation on the same
            // ticket, or a touch); re-checking from the value it left is
            // correct.
            match slot
                .word
                .compare_exchange(cur.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    crash_point();
                    return Ok((index, slot, cur, next));
                }
                Err(actual) => cur = TicketWord(actual),
            }
        }
    }

    /// The stream started: the pending ticket becomes active.
    ///
    /// `Stale` if the ticket is not pending (finished, committed, expired,
    /// garbage) or its engine was removed, in which case the ticket is
    /// finished too.
    pub fn commit(&self, t: Ticket) -> Result<()> {
        let lease = self.active_lease();
        let base_ms = self.lease_base_ms(self.clock.coarse_ns());
        let deadline = (base_ms as u32).wrapping_add(lease);
        let op = self.op();
        // One clock reading for the lease check and the new deadline.
        let (index, slot, _, committing) =
            self.transition_at(t, Kind::Pending, base_ms, |w| w.committing(op))?;
        let active = committing.active(deadline);
        let owned = committing.finished(op);
        if self.move_engine(index, slot, committing, Move::Commit, active, owned) {
            if lease != 0 {
                self.note_deadline(base_ms + lease as u64);
            }
            Ok(())
        } else {
            // The engine is gone: the ticket ends here.
            self.give_back(index, owned);
            Err(Error::Stale)
        }
    }

    /// The stream did not start: the pending ticket is given back.
    pub fn cancel(&self, t: Ticket) -> Result<()> {
        let op = self.op();
        let (index, slot, _, finishing) = self.transition(t, Kind::Pending, |w| w.finishing(op))?;
        self.retire(index, slot, finishing, false);
        Ok(())
    }

    /// The stream ended: the active ticket is given back.
    pub fn release(&self, t: Ticket) -> Result<()> {
        let op = self.op();
        let (index, slot, _, finishing) = self.transition(t, Kind::Active, |w| w.finishing(op))?;
        self.retire(index, slot, finishing, false);
        Ok(())
    }

    /// Finishes the ticket whatever its state: cancels it if pending,
    /// releases it if active — the one definition of "finish" that the C
    /// ABI (`es_finish`), the C++ `Ticket` and the Go `Ticket.Finish` use.
    ///
    /// The exactly-once rules hold: `Stale` (and nothing changes) when the
    /// ticket is already finished, expired, reclaimed or not a ticket of
    /// this table; a ticket whose engine was removed is freed and `Ok`, as
    /// `cancel` and `release` say.
    pub fn finish(&self, t: Ticket) -> Result<()> {
        match self.cancel(t) {
            // Not pending: committed meanwhile, or never pending. If it is
            // active now the release wins; otherwise it is stale for both.
            Err(Error::Stale) => self.release(t),
            r => r,
        }
    }

    /// Releases the active ticket and, in the same atomic step on the engine,
    /// counts its unit as external load, until the next
    /// [`set_external`](Table::set_external) replaces the external count.
    ///
    /// For a caller that derives external load from an orchestrator's total
    /// per engine (ours included): a stream it ends may still be in the
    /// orchestrator's next report, and a stream the engine ended before we
    /// release it was already missing from the last one, so giving the slot
    /// back at once could admit one stream too many until the next report.
    /// Statuses as [`release`](Table::release).
    pub fn release_as_external(&self, t: Ticket) -> Result<()> {
        let op = self.op();
        let (index, slot, _, finishing) = self.transition(t, Kind::Active, |w| w.finishing(op))?;
        // The engine word moves (it is what admission reads, and its
        // generation check tells whether the engine is still there), then
        // the exact count, which stats show only past saturation. Relaxed:
        // a statistic, written like `set_external` writes it.
        // Read before the slot is given back (and may be reused). Relaxed:
        // written before the ticket was published; the slot is ours.
        let (eindex, _) = unpack_engine_ref(slot.engine.load(Ordering::Relaxed));
        if self.retire_by(index, slot, finishing, Move::ActiveToExternal, false) {
            if let Some(meta) = self.metas().get(eindex as usize) {
                meta.external.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// The stream is still alive: extends the active lease from now.
    ///
    /// `Stale` if the ticket is not active, or its engine was removed (such
    /// a ticket can only be released).
    pub fn touch(&self, t: Ticket) -> Result<()> {
        let (_, gen, slot) = self.ticket_slot(t)?;
        // Acquire pairs with the Release that published this incarnation,
        // so its engine reference below is the one it was admitted with.
        let w = TicketWord(slot.word.load(Ordering::Acquire));
        if !w.is(Kind::Active, gen) {
            return Err(Error::Stale);
        }
        let (eindex, egen) = unpack_engine_ref(slot.engine.load(Ordering::Relaxed));
        let engine = self
            .words()
            .get(eindex as usize)
            .map(|c| self.engine_view(c));
        if !engine.is_some_and(|e| e.is_registered() && e.generation() == egen) {
            return Err(Error::Stale);
        }
        let lease = self.active_lease();
        let deadline = (self.lease_base_ms(self.clock.coarse_ns()) as u32).wrapping_add(lease);
        // Never earlier than the deadline it has: the monotonic clock does not go
        // back, but a test clock may, and the sweep hint assumes touch only
        // ever extends a lease.
        self.transition(t, Kind::Active, |w| {
            let keep = reached(w.deadline(), deadline) && w.deadline() != deadline;
            w.with_deadline(if keep { w.deadline() } else { deadline })
        })
        .map(drop)
    }
}
