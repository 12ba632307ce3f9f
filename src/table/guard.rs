//! [`TicketGuard`]: a ticket that gives its slot back when dropped.

use crate::bits::handle::{Engine, Ticket};
use crate::error::Result;
use crate::table::Table;

/// A reserved ticket that cancels itself (if pending) or releases itself
/// (if committed) when dropped, so an early return or a panic cannot leak
/// the slot until its lease runs out.
///
/// ```
/// use engine_slots::{Config, Table};
/// let table = Table::new(Config { default_capacity: 1, ..Config::default() })?;
/// let e = table.add_engine(b"e", 0)?;
/// {
///     let mut stream = table.reserve_guarded()?.expect("room");
///     stream.commit()?;
///     // ... serve; any `?` or panic here still gives the slot back
/// }
/// assert_eq!(table.engine_stats(e)?.active, 0);
/// # Ok::<(), engine_slots::Error>(())
/// ```
#[must_use = "dropping the guard at once gives the slot back at once"]
#[derive(Debug)]
pub struct TicketGuard<'t> {
    table: &'t Table,
    ticket: Ticket,
    engine: Engine,
    committed: bool,
    armed: bool,
}

impl<'t> TicketGuard<'t> {
    /// The ticket handle.
    pub fn ticket(&self) -> Ticket {
        self.ticket
    }
    /// The engine the slot is on.
    pub fn engine(&self) -> Engine {
        self.engine
    }
    /// Whether [`commit`](Self::commit) succeeded.
    pub fn is_committed(&self) -> bool {
        self.committed
    }
    /// The stream started (see [`Table::commit`]). On `Stale` (lease over,
    /// engine removed) the ticket is already finished and the drop does
    /// nothing more.
    pub fn commit(&mut self) -> Result<()> {
        let r = self.table.commit(self.ticket);
        match r {
            Ok(()) => self.committed = true,
            Err(_) => self.armed = false,
        }
        r
    }
    /// Extends the active lease (see [`Table::touch`]).
    pub fn touch(&self) -> Result<()> {
        self.table.touch(self.ticket)
    }
    /// Finishes now: cancel if pending, release if committed.
    pub fn finish(mut self) -> Result<()> {
        self.armed = false;
        self.table.finish(self.ticket)
    }
    /// Disarms the guard and hands out the raw ticket (the caller now
    /// finishes it).
    pub fn into_ticket(mut self) -> Ticket {
        self.armed = false;
        self.ticket
    }
}

impl Drop for TicketGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            // A stale result means it was already finished (expired, or its
            // engine removed): nothing is left to give back.
            let _ = self.table.finish(self.ticket);
        }
    }
}

impl Table {
    /// [`Table::reserve`], returning a guard that gives the slot back when
    /// dropped.
    pub fn reserve_guarded(&self) -> Result<Option<TicketGuard<'_>>> {
        Ok(self.reserve()?.map(|r| self.guard(r.ticket, r.engine)))
    }
    /// [`Table::reserve_on`], returning a guard.
    pub fn reserve_on_guarded(&self, e: Engine) -> Result<Option<TicketGuard<'_>>> {
        Ok(self.reserve_on(e)?.map(|r| self.guard(r.ticket, r.engine)))
    }
    fn guard(&self, ticket: Ticket, engine: Engine) -> TicketGuard<'_> {
        TicketGuard {
            table: self,
            ticket,
            engine,
            committed: false,
            armed: true,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::{Config, Error, Table};

    #[test]
    fn dropped_guards_give_slots_back() {
        let t = Table::new(Config {
            default_capacity: 2,
            ..Config::default()
        })
        .unwrap();
        let e = t.add_engine(b"e", 0).unwrap();
        let g1 = t.reserve_guarded().unwrap().unwrap();
        let mut g2 = t.reserve_guarded().unwrap().unwrap();
        g2.commit().unwrap();
        assert!(t.reserve_guarded().unwrap().is_none());
        drop(g1);
        drop(g2);
        let s = t.engine_stats(e).unwrap();
        assert_eq!((s.active, s.pending), (0, 0));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = t.reserve_on_guarded(e).unwrap().unwrap();
            panic!("request handler failed");
        }));
        assert!(r.is_err());
        assert_eq!(t.engine_stats(e).unwrap().pending, 0);
        let g = t.reserve_guarded().unwrap().unwrap();
        let raw = g.into_ticket();
        assert_eq!(t.engine_stats(e).unwrap().pending, 1);
        t.cancel(raw).unwrap();
        let g = t.reserve_guarded().unwrap().unwrap();
        let tk = g.ticket();
        g.finish().unwrap();
        assert_eq!(t.cancel(tk), Err(Error::Stale));
    }
}
