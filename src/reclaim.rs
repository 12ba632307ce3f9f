//! Winning back leaked tickets: lease expiry.
//!
//! There is no background thread. `reserve` sweeps when it finds no room,
//! and callers may sweep with [`Table::reclaim_expired`]. A table-wide hint
//! (the earliest deadline any live ticket may have) lets `reserve` skip the
//! sweep when nothing can have expired; see `note_deadline` for how it stays
//! a lower bound under concurrency.

use crate::clock::ms32;
use crate::sync::{fence, Ordering};
use crate::table::Table;
use crate::ticket_word::{TicketState, TicketWord};

impl Table {
    /// Reclaims every ticket whose lease is over and returns how many.
    pub fn reclaim_expired(&self) -> u32 {
        self.reclaim_at(self.now_ns(), true)
    }

    /// Sweeps the tickets at time `now_ns`. Unless `force`, returns at once
    /// when the hint says no deadline has been reached.
    pub(crate) fn reclaim_at(&self, now_ns: u64, force: bool) -> u32 {
        if self.pending_lease() == 0 && self.active_lease() == 0 {
            return 0;
        }
        let now_ms = now_ns / 1_000_000;
        let hint = &self.header().next_expiry_ms;
        if !force && now_ms < hint.load(Ordering::Relaxed) {
            return 0;
        }
        hint.swap(u64::MAX, Ordering::Relaxed);
        // Pairs with the SeqCst fence in `note_deadline`: a ticket published
        // after this fence lowers the hint itself; one published before it
        // is seen by the scan below.
        fence(Ordering::SeqCst);
        let now = ms32(now_ns);
        let mut earliest = u64::MAX;
        let mut reclaimed = 0;
        for (index, slot) in self.tickets().iter().enumerate() {
            // Acquire pairs with the Release that published the ticket, so
            // `try_expire` sees its engine reference.
            let mut w = TicketWord(slot.word.load(Ordering::Acquire));
            loop {
                if matches!(w.state(), TicketState::Free | TicketState::Invalid) {
                    break;
                }
                if self.lease_over(w, now) {
                    if self.try_expire(index as u32, slot, w) {
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
        if earliest != u64::MAX {
            hint.fetch_min(earliest, Ordering::Relaxed);
        }
        reclaimed
    }
}
