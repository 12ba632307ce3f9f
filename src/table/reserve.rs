//! Admission: `reserve` and `reserve_on`.
//!
//! 1. Take a free ticket slot (or `TableFull`).
//! 2. Pick an engine (policy) and admit on it with one compare-and-swap of
//!    its word: live, not draining, `load + 1 <= capacity`, same generation.
//!    A failed CAS means another thread changed that engine: decide again.
//! 3. Publish the ticket as pending with its engine and deadline.
//!
//! When no engine has room, expired tickets are reclaimed once and the
//! decision is retried before answering "no capacity".

use crate::bits::engine_word::EngineWord;
use crate::bits::handle::{Engine, Ticket};
use crate::bits::ticket_word::{pack_engine_ref, TicketWord};
use crate::error::{Error, Result};
use crate::memory::layout::EngineWordCell;
use crate::protocol::freelist;
use crate::protocol::select::{self, Candidate};
use crate::sync::{fence, Ordering};
use crate::table::Table;
use crate::Policy;

/// A successful reservation: the pending ticket and the engine it holds a
/// slot on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reservation {
    /// The pending ticket; commit it once the stream started, or cancel it.
    pub ticket: Ticket,
    /// The engine the ticket counts against.
    pub engine: Engine,
}

/// Outcome of one admission attempt on one engine.
enum Admit {
    Done(EngineWord),
    /// The engine changed under us; decide again.
    Lost,
}

#[inline]
fn try_admit(cell: &EngineWordCell, seen: EngineWord) -> Admit {
    let Some(next) = seen.admit() else {
        return Admit::Lost;
    };
    // Relaxed suffices for exactness (the CAS on this one word is atomic);
    // AcqRel additionally orders the ticket publication after it for
    // readers that go from the ticket to the engine.
    match cell
        .word
        .compare_exchange(seen.0, next.0, Ordering::AcqRel, Ordering::Relaxed)
    {
        Ok(_) => Admit::Done(seen),
        Err(_) => Admit::Lost,
    }
}

impl Table {
    /// Reserves a slot on the engine the table's policy picks.
    ///
    /// `Ok(None)` when no engine has room (after reclaiming expired
    /// tickets); `Err(TableFull)` when every ticket slot is in use.
    pub fn reserve(&self) -> Result<Option<Reservation>> {
        self.reserve_with(None)
    }

    /// Reserves a slot on engine `e` only. `Ok(None)` when it is draining or
    /// full; `Err(Stale)` when `e` is not a live engine handle.
    pub fn reserve_on(&self, e: Engine) -> Result<Option<Reservation>> {
        self.resolve(e)?;
        self.reserve_with(Some(e))
    }

    /// Reserves a slot on the engine registered under `key`: `find_engine`
    /// and `reserve_on` in one call. `Err(NotFound)` when no engine has that
    /// key, `Err(Invalid)` for a bad key length, `Ok(None)` when it is full
    /// or draining.
    pub fn reserve_on_key(&self, key: &[u8]) -> Result<Option<Reservation>> {
        // An engine removed between the lookup and the reservation makes its
        // handle stale: look the key up again. Each retry means another
        // thread removed an engine (progress), and a few are plenty; past
        // them the key is treated as gone.
        for _ in 0..8 {
            let e = self.find_engine(key)?;
            match self.reserve_on(e) {
                Err(Error::Stale) => continue,
                r => return r,
            }
        }
        Err(Error::NotFound)
    }

    fn reserve_with(&self, target: Option<Engine>) -> Result<Option<Reservation>> {
        // The coarse clock stamps the lease and the tie-break (see
        // `Table::lease_base_ms`); sweeps read the precise clock.
        let stamp = self.clock.coarse_ns();
        let (table, head, tickets) = (self.table_id(), &self.header().free_head, self.tickets());
        let slot = match freelist::take(table, head, tickets) {
            Some(s) => s,
            None => {
                self.reclaim_at(self.now_ns(), false);
                freelist::take(table, head, tickets)
                    .or_else(|| freelist::steal(tickets))
                    .ok_or(Error::TableFull)?
            }
        };
        // Gives the slot back unused (its word is still the free word).
        let unused = |slot: u32| {
            let free = TicketWord(tickets[slot as usize].word.load(Ordering::Relaxed));
            freelist::give_back(table, head, tickets, slot, free);
        };
        let mut reclaimed = false;
        let mut waited = false;
        // The ticket slot we hold. The slow path below (sweep, wait) gives
        // it back first, so a process killed there leaks no slot (a given-
        // back slot is parked or on the free list, where others find it).
        let mut slot = Some(slot);
        let backoff = crate::sync::Backoff::new();
        loop {
            let choice = match target {
                Some(e) => match self.resolve(e) {
                    Ok((index, _, w)) if w.has_room() => Some(Candidate { index, word: w }),
                    Ok(_) => None,
                    Err(err) => {
                        if let Some(s) = slot.take() {
                            unused(s);
                        }
                        return Err(err);
                    }
                },
                None => self.select(),
            };
            let Some(c) = choice else {
                if let Some(s) = slot.take() {
                    unused(s);
                }
                // No room anywhere: win back expired tickets once, then
                // decide again; otherwise the answer is "no capacity".
                // (Decide again even if this thread reclaimed nothing: a
                // concurrent sweep may have freed room meanwhile.)
                if !reclaimed {
                    reclaimed = true;
                    self.reclaim_at(self.now_ns(), false);
                    continue;
                }
                // A sweep of another thread may be between freeing a ticket
                // and giving its engine the slot back: let it finish once.
                if !waited && self.wait_for_sweeps() {
                    waited = true;
                    continue;
                }
                return Ok(None);
            };
            let slot = match slot {
                Some(s) => s,
                None => {
                    // Taken again after the slow path: usually the one this
                    // thread just parked.
                    let s = freelist::take(table, head, tickets)
                        .or_else(|| freelist::steal(tickets))
                        .ok_or(Error::TableFull)?;
                    slot = Some(s);
                    s
                }
            };
            let cell = &self.words()[c.index as usize];
            match try_admit(cell, c.word) {
                Admit::Done(w) => {
                    let engine = Engine::pack(self.tag, c.index, w.generation());
                    let ticket = self.publish(slot, c.index, w.generation(), stamp);
                    return Ok(Some(Reservation { ticket, engine }));
                }
                // Another reserver or a settings change won this engine's
                // word; its operation completed, so the table made progress.
                // Re-deciding from fresh words is correct.
                Admit::Lost => backoff.spin(),
            }
        }
    }

    /// This table's identity for the thread-local parked-slot hint of
    /// [`freelist`]: the address of its memory, unique among live tables.
    #[inline]
    pub(crate) fn table_id(&self) -> usize {
        self.header() as *const _ as usize
    }

    #[inline]
    fn select(&self) -> Option<Candidate> {
        let hwm = self.engine_hwm();
        let (words, metas) = (&self.words()[..hwm], &self.metas()[..hwm]);
        match self.policy() {
            Policy::LeastLoaded => select::least_loaded(words, metas),
            Policy::FillFirst => select::fill_first(words, metas),
            Policy::TwoChoices => {
                select::two_choices(words, metas, crate::protocol::random::next_seed())
            }
        }
    }

    /// Writes and publishes pending ticket `slot` on engine `index`/`gen`;
    /// `stamp` is a coarse clock reading taken before admission.
    fn publish(&self, slot: u32, index: u32, gen: u16, stamp: u64) -> Ticket {
        let t = &self.tickets()[slot as usize];
        // Relaxed: ordered before the Release store of the word below, which
        // every operation on the ticket Acquire-loads first.
        let free = TicketWord(t.word.load(Ordering::Relaxed));
        t.engine
            .store(pack_engine_ref(index, gen), Ordering::Relaxed);
        t.holder.store(self.holder, Ordering::Relaxed);
        let lease = self.pending_lease();
        let base_ms = self.lease_base_ms(stamp);
        let deadline = (base_ms as u32).wrapping_add(lease);
        let word = TicketWord::pending(free.generation(), deadline);
        // Release pairs with the Acquire loads in `lifecycle` and `reclaim`:
        // whoever sees the pending word sees its engine reference.
        t.word.store(word.0, Ordering::Release);
        // Relaxed: statistics and a selection tie-break only. The stamp sits
        // beside the engine word this thread just won, on the same line.
        self.words()[index as usize]
            .last_reserved_ns
            .store(stamp, Ordering::Relaxed);
        self.metas()[index as usize]
            .reserved_total
            .fetch_add(1, Ordering::Relaxed);
        if lease != 0 {
            self.note_deadline(base_ms + lease as u64);
        }
        Ticket::pack(self.tag, slot, free.generation())
    }

    /// The time (ms) a lease stamped with coarse reading `stamp_ns` runs
    /// from: the latest the precise clock can have read when `stamp_ns` was
    /// taken, so a lease never ends early (and ends at most one coarse tick
    /// late). With a manual clock the slack is 0 and this is exact.
    #[inline]
    pub(crate) fn lease_base_ms(&self, stamp_ns: u64) -> u64 {
        stamp_ns.saturating_add(self.clock.coarse_slack_ns()) / 1_000_000
    }

    /// Lowers the "earliest deadline" hint that lets `reserve` skip sweeps.
    ///
    /// The SeqCst fence pairs with the one in `reclaim_at`: either this
    /// thread sees the sweep's reset of the hint (and lowers it again), or
    /// the sweep sees this thread's ticket word (and counts its deadline).
    #[inline]
    pub(crate) fn note_deadline(&self, deadline_ms: u64) {
        fence(Ordering::SeqCst);
        let hint = &self.header().next_expiry_ms;
        if deadline_ms < hint.load(Ordering::Relaxed) {
            hint.fetch_min(deadline_ms, Ordering::Relaxed);
        }
    }
}
