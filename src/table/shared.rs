//! Shared tables: the very same table in a file mapped `MAP_SHARED` by
//! several processes.
//!
//! Only where the memory comes from differs from an in-process table; every
//! protocol is the same code. The creator takes the file with
//! `O_CREAT | O_EXCL` (so exactly one process initialises), sizes it,
//! writes the table and publishes the header's `ready` flag last with
//! Release ordering. Openers wait (bounded) for the flag, then validate
//! every header field against the file's size before they map or touch a
//! slot. A file that fails validation is `Corrupt`; a config that differs
//! from the caller's is `Invalid`.
//!
//! The mapping is always as long as the table the header describes (never
//! the file's size, which may have changed since the validation), and the
//! size is checked again once mapped: a file shrunk before that is refused;
//! one shrunk later raises SIGBUS on the next touch of a page past its end,
//! but nothing is ever read or written outside the mapping.
//!
//! Every handle registers in the table's registry (`crate::memory::registry`)
//! so its in-flight steps name it, and gives its entry back when dropped.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::memory::file::{
    self, c_path, check_namespaces, map_validated, wait_ready, Checked, Fd, Map,
};
use crate::memory::holder;
use crate::memory::layout::Layout;
use crate::memory::region;
use crate::memory::registry;
use crate::protocol::clock::monotonic_ns;
use crate::sync::Ordering;
use crate::table::Table;
use crate::Clock;
use std::ffi::CString;
use std::path::Path;

/// The table in `map`; registered (so it may take steps) unless read-only.
fn shared_table(map: Map, c: Checked, register: bool) -> Result<Table> {
    let region = map.into_region(&c.config);
    // Acquire pairs with the creator's Release store of `ready`: everything
    // it initialised is visible before we touch a slot.
    let _ = region.header().ready.load(Ordering::Acquire);
    let me = holder::current();
    let mut table = Table::from_region(region, c.config, c.tag, Clock::Monotonic, me, 0);
    if register {
        let entries = || table.region.registry();
        let op = match registry::register(entries(), me) {
            Some(op) => op,
            None => {
                // Full: free the entries of processes that died, then try
                // once more.
                table.reclaim_expired();
                registry::register(entries(), me).ok_or(Error::Io(libc::EUSERS))?
            }
        };
        table.op = op;
    }
    Ok(table)
}

impl Table {
    /// Opens the shared table stored in the file at `path`, creating it
    /// (mode 0600) if it does not exist.
    ///
    /// Creating needs `config` (validated). Opening takes the file's own
    /// config when `config` is `None`, and gives `Invalid` when `config`
    /// differs from it. Concurrent creators race safely: one initialises,
    /// the others wait for it. A file that is not a valid table (wrong
    /// magic, version, size, or out-of-range field, or never initialised) is
    /// `Corrupt`. Open the table after `fork`, not before: a ticket records
    /// the process that holds it.
    pub fn open_shared(path: impl AsRef<Path>, config: Option<&Config>) -> Result<Table> {
        if let Some(c) = config {
            c.validate()?;
        }
        let cpath = c_path(path.as_ref())?;
        for _ in 0..100 {
            if let Some(cfg) = config {
                let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
                match Fd::open(&cpath, flags, 0o600) {
                    Ok(fd) => return create(fd, cfg, &cpath),
                    Err(libc::EEXIST) => {}
                    Err(e) => return Err(Error::Io(e)),
                }
            }
            let fd = match Fd::open(&cpath, libc::O_RDWR, 0) {
                Ok(fd) => fd,
                // Unlinked between our two opens: try again.
                Err(libc::ENOENT) if config.is_some() => continue,
                Err(e) => return Err(Error::Io(e)),
            };
            let checked = wait_ready(&fd)?;
            check_namespaces(&checked)?;
            if config.is_some_and(|c| *c != checked.config) {
                return Err(Error::Invalid);
            }
            let map = map_validated(&fd, &checked, true)?;
            return shared_table(map, checked, true);
        }
        Err(Error::Io(libc::ENOENT))
    }

    /// Deletes the file of a shared table. Processes that have it open keep
    /// using their mapping until they free it.
    pub fn unlink_shared(path: impl AsRef<Path>) -> Result<()> {
        file::unlink(&c_path(path.as_ref())?)
    }

    /// [`Table::open_shared`] reading lease time from `clock` rather than
    /// `CLOCK_MONOTONIC`: for tests (every process of a shared table must
    /// read the same clock, so only one process can use a manual one).
    #[doc(hidden)]
    pub fn open_shared_with_clock(
        path: impl AsRef<Path>,
        config: Option<&Config>,
        clock: crate::Clock,
    ) -> Result<Table> {
        let mut t = Table::open_shared(path, config)?;
        t.clock = clock;
        Ok(t)
    }

    /// `true` when this table lives in a shared file.
    pub fn is_shared(&self) -> bool {
        self.region.is_shared()
    }

    /// Gives this handle's registry entry back (see `Drop for Table`).
    pub(crate) fn unregister(&self) {
        if self.op != 0 && self.region.is_shared() {
            registry::unregister(self.region.registry(), self.op, self.holder);
        }
    }
}

/// Sizes, maps and initialises a file we created.
fn create(fd: Fd, cfg: &Config, cpath: &CString) -> Result<Table> {
    let layout = Layout::for_sizes(cfg.max_engines, cfg.max_tickets);
    let fail = |e: Error| {
        // Leave no half-made table behind for others to wait on.
        let _ = file::unlink(cpath);
        e
    };
    let map = fd.size_and_map(layout.total).map_err(fail)?;
    let tag =
        (crate::protocol::random::splitmix64(monotonic_ns() ^ holder::current()) >> 48) as u16;
    // SAFETY: the mapping is `layout.total` bytes, page-aligned (so aligned
    // to REGION_ALIGN), and nobody else reads it before `ready` is set.
    unsafe { region::init(map.base.as_ptr(), cfg, tag, &layout) };
    let (pid_ns, time_ns) = (holder::namespace("pid"), holder::namespace("time"));
    let checked = Checked {
        config: *cfg,
        tag,
        pid_ns,
        time_ns,
    };
    let table = shared_table(map, checked, true)?;
    // Release pairs with the Acquire in `shared_table` of every opener: the
    // table is complete before anyone may use it.
    table.header().ready.store(1, Ordering::Release);
    Ok(table)
}

/// A read-only view of a shared table (what `engine-slots inspect` uses):
/// the file is opened and mapped read-only, so nothing can change it.
#[derive(Debug)]
pub struct SharedView {
    table: Table,
}

impl SharedView {
    /// Opens the shared table at `path` read-only.
    pub fn open(path: impl AsRef<Path>) -> Result<SharedView> {
        let fd = Fd::open(&c_path(path.as_ref())?, libc::O_RDONLY, 0).map_err(Error::Io)?;
        let checked = wait_ready(&fd)?;
        let map = map_validated(&fd, &checked, false)?;
        Ok(SharedView {
            table: shared_table(map, checked, false)?,
        })
    }
    /// The table's configuration.
    pub fn config(&self) -> &Config {
        self.table.config()
    }
    /// Bytes the table occupies.
    pub fn memory_size(&self) -> usize {
        self.table.memory_size()
    }
    /// Every registered engine (see [`Table::snapshot`]).
    pub fn snapshot(&self) -> Vec<crate::EngineStats> {
        self.table.snapshot()
    }
    /// Ticket slots by state (see [`Table::ticket_counts`]).
    pub fn ticket_counts(&self) -> crate::TicketCounts {
        self.table.ticket_counts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::file::AFTER_VALIDATION;

    fn path(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("es-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    fn shrink_to_header(fd: libc::c_int) {
        // The opener's descriptor may be read-only: reopen it for writing.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{fd}"))
            .unwrap();
        f.set_len(4096).unwrap();
    }

    /// The file shrinks between the opener's validation and its mapping
    /// (reproduced deterministically with the hook): the opener refuses it
    /// instead of mapping fewer bytes than the table it validated.
    #[test]
    fn a_file_shrunk_after_validation_is_never_mapped_short() {
        let cfg = Config {
            max_engines: 4,
            max_tickets: 256,
            ..Config::default()
        };
        let p = path("shrink");
        let t = Table::open_shared(&p, Some(&cfg)).unwrap();
        assert!(t.memory_size() > 4096);
        AFTER_VALIDATION.with(|h| h.set(Some(shrink_to_header)));
        let r = Table::open_shared(&p, None);
        AFTER_VALIDATION.with(|h| h.set(None));
        assert_eq!(r.err(), Some(Error::Corrupt));
        // Regrown: opens again, and the mapping is the whole table.
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(t.memory_size() as u64).unwrap();
        let again = Table::open_shared(&p, None).unwrap();
        assert_eq!(again.region.size(), t.memory_size());
        AFTER_VALIDATION.with(|h| h.set(Some(shrink_to_header)));
        let v = SharedView::open(&p);
        AFTER_VALIDATION.with(|h| h.set(None));
        assert_eq!(v.err(), Some(Error::Corrupt));
        // Before the mapped handles go: their pages must be backed again.
        f.set_len(t.memory_size() as u64).unwrap();
        Table::unlink_shared(&p).unwrap();
    }

    #[test]
    fn handles_register_and_give_their_entry_back() {
        let p = path("registry");
        let t = Table::open_shared(&p, Some(&Config::default())).unwrap();
        let u = Table::open_shared(&p, None).unwrap();
        assert!(t.op != 0 && u.op != 0 && t.op != u.op);
        let taken = |t: &Table| {
            t.region
                .registry()
                .iter()
                .filter(|e| e.holder.load(Ordering::Relaxed) != 0)
                .count()
        };
        assert_eq!(taken(&t), 2);
        drop(u);
        assert_eq!(taken(&t), 1);
        let v = SharedView::open(&p).unwrap();
        assert_eq!(taken(&t), 1, "a read-only view does not register");
        drop(v);
        Table::unlink_shared(&p).unwrap();
    }
}
