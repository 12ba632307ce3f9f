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

use crate::bits::desc::Move;
use crate::bits::handle::{Engine, Ticket};
use crate::bits::ticket_word::{pack_engine_ref, TicketWord};
use crate::error::{Error, Result};
use crate::memory::layout::TicketSlot;
use crate::protocol::freelist;
use crate::protocol::select::{self, Candidate};
use crate::sync::{fence, Ordering};
use crate::table::intent::crash_point;
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
        let op = self.op();
        // The ticket slot we hold (claimed in our name). The slow path below
        // (sweep, wait) gives it back first, so time spent there holds no
        // slot.
        let mut slot = Some(match self.take_slot(op) {
            Some(s) => s,
            None => {
                self.reclaim_at(self.now_ns(), false);
                self.take_slot(op)
                    .or_else(|| self.steal_slot(op))
                    .ok_or(Error::TableFull)?
            }
        });
        crash_point();
        let mut reclaimed = false;
        let backoff = crate::sync::Backoff::new();
        loop {
            let choice = match target {
                Some(e) => match self.resolve(e) {
                    Ok((index, _, w)) if w.has_room() => Some(Candidate { index, word: w }),
                    Ok(_) => None,
                    Err(err) => {
                        if let Some(s) = slot.take() {
                            self.give_back_unused(s);
                        }
                        return Err(err);
                    }
                },
                None => self.select(),
            };
            let Some(c) = choice else {
                // A move in flight shows its engine without room to
                // selection: complete those, and if an engine has room
                // then, decide again. (Each retry follows a move of another
                // thread that selection saw in flight: lock-free.)
                if self.crash_safe && target.is_none() && self.room_after_settling() {
                    continue;
                }
                if let Some(s) = slot.take() {
                    self.give_back_unused(s);
                }
                // No room anywhere: win back expired tickets (and those of
                // dead processes) once, then decide again; otherwise the
                // answer is "no capacity". (Decide again even if this
                // thread reclaimed nothing: a concurrent sweep it waited for
                // may have freed room meanwhile.)
                if !reclaimed {
                    reclaimed = true;
                    if let (_, Some((i, w))) = self.reclaim_at(self.now_ns(), false) {
                        // Another thread is finishing a ticket (a sweep
                        // that expired it, say) and is about to give its
                        // engine the count back: let it, then decide again.
                        self.wait_for_slot(i, w);
                    }
                    continue;
                }
                return Ok(None);
            };
            let index = match slot {
                Some(s) => s,
                None => {
                    // Taken again after the slow path: usually the one this
                    // thread just parked.
                    let s = self
                        .take_slot(op)
                        .or_else(|| self.steal_slot(op))
                        .ok_or(Error::TableFull)?;
                    slot = Some(s);
                    s
                }
            };
            let cell = &self.words()[c.index as usize];
            // Relaxed: our own claimed word; its generation is the ticket's.
            let gen = TicketWord(self.tickets()[index as usize].word.load(Ordering::Relaxed))
                .generation();
            if self.admit(index, c, stamp, cell) {
                crash_point();
                let engine = Engine::pack(self.tag, c.index, c.word.generation());
                let ticket = self.published(index, gen, c.index, stamp);
                return Ok(Some(Reservation { ticket, engine }));
            }
            // Another reserver or a settings change won this engine's word;
            // its operation completed, so the table made progress.
            // Re-deciding from fresh words is correct.
            backoff.spin();
        }
    }

    /// A free slot claimed for `op`, from this thread's parked slot or the
    /// bitmap.
    #[inline]
    fn take_slot(&self, op: u32) -> Option<u32> {
        freelist::take(self.table_id(), self.region.free_bits(), self.tickets(), op)
    }
    fn steal_slot(&self, op: u32) -> Option<u32> {
        freelist::steal(self.region.free_bits(), self.tickets(), op)
    }
    /// Gives back slot `index`, claimed and unused.
    fn give_back_unused(&self, index: u32) {
        // Relaxed: our own claimed word.
        let owned = TicketWord(self.tickets()[index as usize].word.load(Ordering::Relaxed));
        self.give_back(index, owned);
    }

    /// Admits the ticket in slot `index` (claimed by this thread) on the
    /// candidate engine `c`, and publishes it pending: `false` when the
    /// engine's word changed first (decide again).
    #[inline]
    fn admit(
        &self,
        index: u32,
        c: Candidate,
        stamp: u64,
        cell: &crate::memory::layout::EngineWordCell,
    ) -> bool {
        let t = &self.tickets()[index as usize];
        // Relaxed: our own claimed word.
        let claimed = TicketWord(t.word.load(Ordering::Relaxed));
        let deadline = (self.lease_base_ms(stamp) as u32).wrapping_add(self.pending_lease());
        let pending = TicketWord::pending(claimed.generation(), deadline);
        if self.crash_safe {
            // The ticket's fields first: a helper that completes the move
            // publishes the ticket (see `intent`).
            self.write_fields(t, c);
            return self.try_move(index, t, claimed, Move::Admit, cell, c.word, pending);
        }
        let Some(next) = c.word.admit() else {
            return false;
        };
        // Relaxed suffices for exactness (the CAS on this one word is atomic);
        // AcqRel additionally orders the ticket publication after it for
        // readers that go from the ticket to the engine.
        if cell
            .word
            .compare_exchange(c.word.0, next.0, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        self.write_fields(t, c);
        // Release pairs with the Acquire loads in `lifecycle` and `reclaim`:
        // whoever sees the pending word sees its engine reference. The word
        // is ours (claimed) until this store.
        t.word.store(pending.0, Ordering::Release);
        true
    }

    /// The engine reference and holder of a ticket about to be published.
    #[inline]
    fn write_fields(&self, t: &TicketSlot, c: Candidate) {
        // Relaxed: published with the ticket word (or the descriptor) by a
        // Release that follows.
        t.engine.store(
            pack_engine_ref(c.index, c.word.generation()),
            Ordering::Relaxed,
        );
        t.holder.store(self.ticket_holder(), Ordering::Relaxed);
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

    /// The bookkeeping after pending ticket `slot` (generation `gen`) on
    /// engine `index` was
    /// published; `stamp` is the coarse clock reading taken before
    /// admission. Returns its handle.
    fn published(&self, slot: u32, gen: u32, index: u32, stamp: u64) -> Ticket {
        // Relaxed: statistics and a selection tie-break only. The stamp sits
        // beside the engine word this thread just won, on the same line.
        self.words()[index as usize]
            .last_reserved_ns
            .store(stamp, Ordering::Relaxed);
        self.metas()[index as usize]
            .reserved_total
            .fetch_add(1, Ordering::Relaxed);
        let lease = self.pending_lease();
        if lease != 0 {
            self.note_deadline(self.lease_base_ms(stamp) + lease as u64);
        }
        Ticket::pack(self.tag, slot, gen)
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
        let hint = crate::bits::sweep::Hint(self.header().next_expiry.load(Ordering::Relaxed));
        if deadline_ms < hint.ms() {
            self.lower_hint(deadline_ms);
        }
    }
}
