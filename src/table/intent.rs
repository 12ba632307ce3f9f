//! Crash-safe steps: intent records, engine descriptors, and how the holder
//! scan finishes or undoes the step of an operator that died.
//!
//! Every change of a ticket slot that takes more than one atomic step runs
//! with the slot's word in an *in-flight* kind that names its operator
//! (`Claimed`, `Committing`, `Finishing*`, see [`crate::bits::ticket_word`]);
//! a slot is only ever owned through such a word, so a dead owner is always
//! visible. The one step that cannot be told from the slot alone is the move
//! of the engine's counts (the engine word is another word): in a shared
//! table ([`Table::crash_safe`]) it runs in three compare-and-swaps:
//!
//! 1. the operator writes the *intent record* into its slot (the engine word
//!    it starts from, the ticket word the slot gets once the move is done)
//!    and replaces the engine word `from` with a *descriptor* naming the
//!    slot and the move (`crate::bits::desc`) — this CAS decides that the
//!    move happens;
//! 2. the ticket word goes from in flight to its next state (*marked*);
//! 3. the engine word goes from the descriptor to `move(from)` (*swung*).
//!
//! Anyone who finds a descriptor (a reserve, a commit, a settings change, a
//! sweep) completes 2 and 3 itself from the intent record, so the protocol
//! stays lock-free, and a scan never mistakes a move in flight for a count.
//! A slot's intent record is rewritten only once no descriptor of the slot
//! is installed (the operator swings its own before it goes on; the next
//! operator of the slot reads the same engine word first and completes what
//! it finds there), so a helper that reads a record under a descriptor reads
//! that descriptor's record.
//!
//! The holder scan, finding an in-flight word whose operator is gone
//! ([`Table::recover`]): if the slot's engine holds a descriptor of the slot,
//! the move happened: complete it. Otherwise it never happened, and never
//! will (a dead process takes no step; and whoever completes a move marks
//! the ticket before swinging the engine, so an unmarked ticket without a
//! descriptor is a move that was never made): undo the ticket's step. Seeing
//! a dead process's death (`kill`, `/proc`) orders all its writes before the
//! scan's reads.
//!
//! An in-process table cannot outlive a crash of its process, so it moves
//! engine counts with one read-modify-write, as before (`crash_safe` false).

use crate::bits::desc::Desc;
use crate::bits::engine_word::EngineWord;
use crate::bits::moves::Move;
use crate::bits::ticket_word::{unpack_engine_ref, Kind, TicketWord};
use crate::memory::holder::LivenessCache;
use crate::memory::layout::{EngineWordCell, TicketSlot};
use crate::protocol::freelist;
use crate::sync::{fence, Ordering};
use crate::table::Table;

/// Most moves `Table::settled` completes in one call (see there).
const SETTLE_BOUND: u32 = 1 << 20;

#[cfg(loom)]
loom::thread_local! {
    /// The operator this model thread acts as (0: the table's own).
    static LOOM_OP: std::cell::Cell<u32> = std::cell::Cell::new(0);
    /// Steps left before this model thread "dies" (0: never).
    static CRASH_AFTER: std::cell::Cell<u32> = std::cell::Cell::new(0);
}

/// The payload of a simulated death (loom models).
#[cfg(loom)]
pub(crate) struct Crashed;

/// Loom models: act as operator `op` on this thread.
#[cfg(loom)]
pub(crate) fn act_as(op: u32) {
    LOOM_OP.with(|c| c.set(op));
}

/// Loom models: die (unwind with [`Crashed`]) at the `n`-th crash point
/// from now (`n >= 1`).
#[cfg(loom)]
pub(crate) fn crash_after(n: u32) {
    CRASH_AFTER.with(|c| c.set(n));
}

/// A point between two shared-memory steps where a loom model may kill the
/// thread; nothing outside loom.
#[inline(always)]
pub(crate) fn crash_point() {
    #[cfg(loom)]
    CRASH_AFTER.with(|c| match c.get() {
        0 => {}
        1 => {
            c.set(0);
            std::panic::resume_unwind(Box::new(Crashed));
        }
        n => c.set(n - 1),
    });
}

/// The last step of an engine move: the ticket word in `slot`, in flight
/// by this thread, becomes `w`.
#[inline(always)]
fn finish_move(slot: &TicketSlot, w: TicketWord) {
    crash_point();
    // Release: publishes what we did to whoever acquires the word.
    // The word is ours: nobody else writes an in-flight word of a
    // live operator without a descriptor of it installed.
    slot.word.store(w.0, Ordering::Release);
    crash_point();
}

impl Table {
    /// The operator reference this thread's steps carry.
    #[inline]
    pub(crate) fn op(&self) -> u32 {
        #[cfg(loom)]
        {
            let o = LOOM_OP.with(|c| c.get());
            if o != 0 {
                return o;
            }
        }
        self.op
    }

    /// The holder identity a ticket published by this thread records (loom
    /// models of shared tables: the operator, which they kill).
    #[inline]
    pub(crate) fn ticket_holder(&self) -> u64 {
        #[cfg(loom)]
        if self.crash_safe {
            return self.op() as u64;
        }
        self.holder
    }

    /// `true` when operator `op` certainly took its last step.
    pub(crate) fn op_gone(&self, op: u32, alive: &mut LivenessCache) -> bool {
        #[cfg(loom)]
        {
            let _ = alive;
            op != 0
                && op < 64
                && self.loom_dead.load(std::sync::atomic::Ordering::Relaxed) & (1 << op) != 0
        }
        #[cfg(not(loom))]
        {
            self.region.is_shared()
                && crate::memory::registry::is_gone(self.region.registry(), op, alive)
        }
    }

    /// The engine word in `cell`, any move in flight on it completed first
    /// (for writers, which then compare-and-swap from it).
    #[inline]
    pub(crate) fn settled(&self, cell: &EngineWordCell) -> EngineWord {
        // Each round completes a move (another thread's progress, so this
        // is lock-free). The bound only stops a corrupt file whose records
        // name descriptors in a cycle from hanging the caller: such a word
        // then reads as no engine.
        for _ in 0..SETTLE_BOUND {
            // Acquire pairs with the Release of the CAS that installed the
            // word: with a descriptor, its intent record is visible.
            let w = EngineWord(cell.word.load(Ordering::Acquire));
            match w.desc() {
                Some(d) if self.complete(cell, w, d) => continue,
                _ => return w,
            }
        }
        // Acquire as above.
        EngineWord(cell.word.load(Ordering::Acquire))
    }

    /// The engine word in `cell` as readers see it, without writing: a
    /// move in flight counts as made (its descriptor is where it took
    /// effect). Safe on a read-only mapping.
    pub(crate) fn engine_view(&self, cell: &EngineWordCell) -> EngineWord {
        loop {
            // Acquire as in `settled`.
            let w = EngineWord(cell.word.load(Ordering::Acquire));
            let Some(d) = w.desc() else { return w };
            let Some(slot) = self.tickets().get(d.slot as usize) else {
                return w;
            };
            // Relaxed: written before the descriptor was installed (Release),
            // which our Acquire load saw.
            let from = EngineWord(slot.intent_from.load(Ordering::Relaxed));
            // Seqlock-style re-check: the record is this move's only while
            // the descriptor is still installed.
            fence(Ordering::Acquire);
            if cell.word.load(Ordering::Relaxed) == w.0 {
                return d.mv.apply(from).unwrap_or(from);
            }
            // Completed meanwhile: read the result.
        }
    }

    /// Completes the move `d`, installed in `cell` as word `w`: marks the
    /// ticket, then swings the engine word. `false` when `d` names no slot
    /// (only a corrupt file).
    fn complete(&self, cell: &EngineWordCell, w: EngineWord, d: Desc) -> bool {
        let Some(slot) = self.tickets().get(d.slot as usize) else {
            return false;
        };
        // Relaxed: see `engine_view`; the caller's Acquire load saw `w`.
        let from = EngineWord(slot.intent_from.load(Ordering::Relaxed));
        let to = TicketWord(slot.intent_to.load(Ordering::Relaxed));
        let mut cur = TicketWord(slot.word.load(Ordering::Acquire));
        // Retried when the word changed under us but still shows this move
        // unmarked (nothing else can change it then but a mark): correct,
        // and bounded by the one mark.
        while cur.in_flight() == Some(d.mv.ticket_step()) && cur.generation() == d.gen {
            // AcqRel: Release publishes the ticket's new state (for an
            // admission, the ticket itself; its fields were published with
            // the descriptor, which we acquired); Acquire for the retry.
            match slot
                .word
                .compare_exchange(cur.0, to.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => cur = TicketWord(actual),
            }
        }
        crash_point();
        // A move never installed unless it applies; a corrupt record gives
        // the engine its old word back.
        let after = d.mv.apply(from).unwrap_or(from);
        // AcqRel: Release publishes the engine's new counts (pairs with the
        // Acquire loads of the word). Failure: another helper swung it
        // first; nothing to retry.
        let _ = cell
            .word
            .compare_exchange(w.0, after.0, Ordering::AcqRel, Ordering::Relaxed);
        crash_point();
        true
    }

    /// Moves the engine counts of the ticket in slot `index`, whose word
    /// this thread moved to `in_flight`, by `mv`. The word becomes `to`
    /// when the move is made and `gone` when the ticket's engine is no
    /// longer there (or the move does not apply). `true` when made.
    ///
    /// In-process tables take the short path here, inlined into the callers
    /// so that a constant `mv` (commit's) folds into its one engine-word
    /// update; shared tables take the crash-safe move (out of line).
    #[inline]
    pub(crate) fn move_engine(
        &self,
        index: u32,
        slot: &TicketSlot,
        in_flight: TicketWord,
        mv: Move,
        to: TicketWord,
        gone: TicketWord,
    ) -> bool {
        if self.crash_safe {
            return self.move_engine_crash_safe(index, slot, in_flight, mv, to, gone);
        }
        // Relaxed: written before the ticket was published, which the
        // Acquire CAS that made `in_flight` saw.
        let (eindex, egen) = unpack_engine_ref(slot.engine.load(Ordering::Relaxed));
        let made = self
            .words()
            .get(eindex as usize)
            .is_some_and(|cell| self.engine_apply(cell, egen, mv));
        finish_move(slot, if made { to } else { gone });
        made
    }

    /// [`move_engine`](Table::move_engine) in a crash-safe (shared) table.
    #[inline(never)]
    fn move_engine_crash_safe(
        &self,
        index: u32,
        slot: &TicketSlot,
        in_flight: TicketWord,
        mv: Move,
        to: TicketWord,
        gone: TicketWord,
    ) -> bool {
        // Relaxed: written before the ticket was published, which the
        // Acquire CAS that made `in_flight` saw.
        let (eindex, egen) = unpack_engine_ref(slot.engine.load(Ordering::Relaxed));
        let done = |w: TicketWord| finish_move(slot, w);
        let Some(cell) = self.words().get(eindex as usize) else {
            done(gone);
            return false;
        };
        loop {
            let w = self.settled(cell);
            if !(w.is_registered() && w.generation() == egen) || mv.apply(w).is_none() {
                done(gone);
                return false;
            }
            if self.try_move(index, slot, in_flight, mv, cell, w, to) {
                return true;
            }
            // Another thread changed the engine's word (its operation took
            // effect, so the table made progress): decide again from the
            // fresh word.
        }
    }

    /// One attempt of the crash-safe move (see the module docs) from engine
    /// word `w`; `false` if the word changed first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn try_move(
        &self,
        index: u32,
        slot: &TicketSlot,
        in_flight: TicketWord,
        mv: Move,
        cell: &EngineWordCell,
        w: EngineWord,
        to: TicketWord,
    ) -> bool {
        // Relaxed: published by the Release CAS that installs the
        // descriptor; no descriptor of this slot is installed now, so no
        // helper reads them meanwhile.
        slot.intent_from.store(w.0, Ordering::Relaxed);
        slot.intent_to.store(to.0, Ordering::Relaxed);
        crash_point();
        let d = Desc {
            slot: index,
            gen: in_flight.generation(),
            mv,
        };
        // AcqRel: Release publishes the intent record (and, for an
        // admission, the ticket's fields) with the descriptor; Acquire
        // orders us after the word's previous writer.
        if cell
            .word
            .compare_exchange(w.0, d.word(), Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        crash_point();
        // Mark, then swing, from what we know (a helper reads the record).
        // AcqRel as in `complete`. Failure: a helper marked it first (only
        // a mark changes an in-flight word while its descriptor is in).
        let _ = slot
            .word
            .compare_exchange(in_flight.0, to.0, Ordering::AcqRel, Ordering::Relaxed);
        crash_point();
        let after = mv.apply(w).unwrap_or(w);
        // AcqRel as in `complete`. Failure: a helper swung it first.
        let _ = cell
            .word
            .compare_exchange(d.word(), after.0, Ordering::AcqRel, Ordering::Relaxed);
        crash_point();
        true
    }

    /// In-process tables: applies `mv` to the engine in `cell` if it still
    /// has generation `gen`, with one atomic read-modify-write.
    #[inline]
    pub(crate) fn engine_apply(&self, cell: &EngineWordCell, gen: u16, mv: Move) -> bool {
        // AcqRel for the same reason as `Table::update_engine`.
        // fetch_update retries when another thread changed the word; the
        // move and the generation check are re-applied to the fresh value,
        // so it is correct, and the other thread's change completed, so it
        // is lock-free.
        cell.word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |raw| {
                let w = EngineWord(raw);
                if w.is_registered() && w.generation() == gen {
                    mv.apply(w).map(|n| n.0)
                } else {
                    None
                }
            })
            .is_ok()
    }

    /// Completes the moves in flight on the engines (a reserve about to
    /// answer "no capacity" in a shared table: a descriptor hides an
    /// engine's room from selection); `true` if an engine has room then.
    pub(crate) fn room_after_settling(&self) -> bool {
        self.words()[..self.engine_hwm()]
            .iter()
            .any(|cell| self.settled(cell).has_room())
    }

    /// Finishes or undoes the step on slot `index` (word `w`, in flight) of
    /// an operator that is gone. `now_ns` is the scan's clock: an undone
    /// commit or finish leaves a ticket with a full lease from then.
    pub(crate) fn recover(&self, index: u32, slot: &TicketSlot, w: TicketWord, now_ns: u64) {
        let now_ms = now_ns / 1_000_000;
        let now = now_ms as u32;
        if w.in_flight().is_none() {
            return;
        }
        // Relaxed: the operator wrote it before installing any descriptor
        // (and is dead: its writes are all visible to us).
        let (eindex, _) = unpack_engine_ref(slot.engine.load(Ordering::Relaxed));
        if let Some(cell) = self.words().get(eindex as usize) {
            // Acquire as in `settled`.
            let ew = EngineWord(cell.word.load(Ordering::Acquire));
            if let Some(d) = ew.desc() {
                if d.slot == index && self.complete(cell, ew, d) {
                    // The move was made: the ticket is marked now; the
                    // caller looks at it again.
                    return;
                }
            }
        }
        let (undone, deadline) = match w.kind() {
            Kind::Committing | Kind::FinishingPending => {
                let lease = self.pending_lease();
                (w.repending(now.wrapping_add(lease)), lease)
            }
            Kind::FinishingActive => {
                let lease = self.active_lease();
                (w.active(now.wrapping_add(lease)), lease)
            }
            _ => {
                // Claimed: free it (bit first, see `freelist`). Failure of the
                // CAS below leaves a stale bit: harmless.
                let bits = self.region.free_bits();
                let (wi, bit) = (index as usize / 64, 1u64 << (index % 64));
                if let Some(b) = bits.get(wi) {
                    b.fetch_or(bit, Ordering::Relaxed);
                }
                (w.freed(), 0)
            }
        };
        // AcqRel: Acquire to see the operator's last writes (also ordered
        // by its death); Release publishes the undone state. Failure:
        // another scan recovered it first.
        if slot
            .word
            .compare_exchange(w.0, undone.0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
            && deadline != 0
        {
            self.note_deadline(now_ms + deadline as u64);
        }
    }

    /// Returns a slot this thread owns (word `owned`, claimed) to the free
    /// slots.
    pub(crate) fn give_back(&self, index: u32, owned: TicketWord) {
        freelist::give_back(
            self.table_id(),
            self.region.free_bits(),
            self.tickets(),
            index,
            owned,
            self.op(),
        );
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::bits::desc::Desc;
    use crate::bits::moves::Move;
    use crate::sync::Ordering;
    use crate::{Config, Error, Table};

    /// A corrupt file whose engine word is a descriptor whose record names
    /// the same descriptor: callers get an answer, not a hang.
    #[test]
    fn a_descriptor_cycle_in_a_corrupt_file_does_not_hang() {
        let t = Table::new(Config::default()).unwrap();
        let e = t.add_engine(b"e", 2).unwrap();
        let d = Desc {
            slot: 0,
            gen: 0,
            mv: Move::Admit,
        }
        .word();
        t.words()[0].word.store(d, Ordering::Relaxed);
        t.tickets()[0].intent_from.store(d, Ordering::Relaxed);
        assert_eq!(t.set_capacity(e, 3), Err(Error::Stale));
        assert_eq!(t.snapshot().len(), 0);
        assert_eq!(t.reserve(), Ok(None));
    }
}
