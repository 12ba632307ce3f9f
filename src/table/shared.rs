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

use crate::config::{es_config, Config};
use crate::error::{Error, Result};
use crate::memory::holder;
use crate::memory::layout::{Header, Layout, LAYOUT_VERSION, MAGIC};
use crate::memory::region::{self, Region};
use crate::memory::registry;
use crate::protocol::clock::monotonic_ns;
use crate::sync::Ordering;
use crate::table::Table;
use crate::Clock;
use std::ffi::CString;
use std::mem::{offset_of, size_of};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;
use std::time::Duration;

/// How long an opener waits for a creator to finish initialising.
const READY_WAIT: Duration = Duration::from_secs(2);

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Invalid)
}

/// Closes a file descriptor when dropped.
struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// A mapping that unmaps itself unless handed over to a [`Region`].
struct Map {
    base: NonNull<u8>,
    len: usize,
}

impl Map {
    fn new(fd: &Fd, len: usize, writable: bool) -> Result<Map> {
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: a fresh shared mapping of an open file; the kernel picks
        // the address. `len` is nonzero (callers check the header fits).
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd.0, 0) };
        if p == libc::MAP_FAILED {
            return Err(Error::Io(errno()));
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or(Error::Io(libc::EIO))?;
        Ok(Map { base, len })
    }
    fn into_region(self, cfg: &Config) -> Region {
        let m = std::mem::ManuallyDrop::new(self);
        // SAFETY: the mapping is live, at least `Layout::total` bytes long
        // (checked by the callers), and holds an initialised, validated
        // table for `cfg`; the Region now owns (and will unmap) it.
        unsafe { Region::from_mapping(m.base, m.len, cfg) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: we own the mapping and nothing refers into it.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

fn file_size(fd: &Fd) -> Result<u64> {
    // SAFETY: `st` is a valid out-parameter for fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open; `st` is writable.
    if unsafe { libc::fstat(fd.0, &mut st) } != 0 {
        return Err(Error::Io(errno()));
    }
    Ok(st.st_size as u64)
}

/// Reads the header's bytes with `pread` (no mapping needed yet).
fn read_header(fd: &Fd) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; size_of::<Header>()];
    // SAFETY: `buf` is writable for its whole length.
    let n = unsafe { libc::pread(fd.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(Error::Io(errno()));
    }
    buf.truncate(n as usize);
    Ok(buf)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().unwrap_or([0; 4]))
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().unwrap_or([0; 8]))
}

/// What a valid header says.
struct Checked {
    config: Config,
    tag: u16,
    /// The creator's PID and time namespaces (0 = unknown).
    pid_ns: u64,
    time_ns: u64,
}

/// Using a table needs the creator's PID namespace (a ticket's holder is a
/// pid there: from another one, a live holder could look dead and lose its
/// tickets) and time namespace (leases are CLOCK_MONOTONIC deadlines).
/// Elsewhere opening fails with `Io(EXDEV)`; `SharedView` (read-only) is
/// allowed anywhere.
fn check_namespaces(c: &Checked) -> Result<()> {
    let differs = |theirs: u64, kind: &str| {
        let mine = holder::namespace(kind);
        theirs != 0 && mine != 0 && theirs != mine
    };
    if differs(c.pid_ns, "pid") || differs(c.time_ns, "time") {
        return Err(Error::Io(libc::EXDEV));
    }
    Ok(())
}

/// Validates a complete, ready header against the file size.
fn check_header(b: &[u8], size: u64) -> Result<Checked> {
    if b.len() < size_of::<Header>() {
        return Err(Error::Corrupt);
    }
    if u64_at(b, offset_of!(Header, magic)) != MAGIC
        || u32_at(b, offset_of!(Header, version)) != LAYOUT_VERSION
    {
        return Err(Error::Corrupt);
    }
    let c = offset_of!(Header, config);
    let field = |off: usize| u32_at(b, c + off);
    let stored = es_config {
        max_engines: field(offset_of!(es_config, max_engines)),
        max_tickets: field(offset_of!(es_config, max_tickets)),
        default_capacity: field(offset_of!(es_config, default_capacity)),
        pending_lease_ms: field(offset_of!(es_config, pending_lease_ms)),
        active_lease_ms: field(offset_of!(es_config, active_lease_ms)),
        policy: field(offset_of!(es_config, policy)),
    };
    let config = Config::try_from(stored).map_err(|_| Error::Corrupt)?;
    let layout = Layout::for_sizes(config.max_engines, config.max_tickets);
    let tag = u32_at(b, offset_of!(Header, tag));
    let ok = u64_at(b, offset_of!(Header, total_size)) == layout.total as u64
        && u64_at(b, offset_of!(Header, engines_off)) == layout.engines_off as u64
        && u64_at(b, offset_of!(Header, metas_off)) == layout.metas_off as u64
        && u64_at(b, offset_of!(Header, tickets_off)) == layout.tickets_off as u64
        && u64_at(b, offset_of!(Header, registry_off)) == layout.registry_off as u64
        && u64_at(b, offset_of!(Header, bitmap_off)) == layout.bitmap_off as u64
        && size >= layout.total as u64
        && tag <= u16::MAX as u32;
    if !ok {
        return Err(Error::Corrupt);
    }
    let pid_ns = u64_at(b, offset_of!(Header, pid_ns));
    let time_ns = u64_at(b, offset_of!(Header, time_ns));
    Ok(Checked {
        config,
        tag: tag as u16,
        pid_ns,
        time_ns,
    })
}

/// Waits (bounded) until the creator published the header, then checks it.
///
/// Only two pictures mean "a creator is still at work": all zero bytes
/// (created, maybe sized, not yet written) or our magic without the ready
/// flag. Anything else that is not ready is `Corrupt` at once.
fn wait_ready(fd: &Fd) -> Result<Checked> {
    let start = monotonic_ns();
    loop {
        let size = file_size(fd)?;
        let b = read_header(fd)?;
        let full = b.len() >= size_of::<Header>();
        if full && u32_at(&b, offset_of!(Header, ready)) != 0 {
            return check_header(&b, size);
        }
        let zeros = b.iter().all(|&x| x == 0);
        let ours = b.len() >= 8 && u64_at(&b, offset_of!(Header, magic)) == MAGIC;
        if !zeros && !ours {
            return Err(Error::Corrupt);
        }
        if monotonic_ns().saturating_sub(start) > READY_WAIT.as_nanos() as u64 {
            // Never initialised (its creator died, or it is not a table).
            return Err(Error::Corrupt);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

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

/// The mapped table must still be as long as the header says: the file may
/// have been truncated between the validation and the mapping.
fn check_mapped(fd: &Fd, c: &Checked) -> Result<()> {
    let total = Layout::for_sizes(c.config.max_engines, c.config.max_tickets).total;
    if file_size(fd)? < total as u64 {
        return Err(Error::Corrupt);
    }
    Ok(())
}

#[cfg(test)]
std::thread_local! {
    /// Unit tests: runs between an opener's validation and its mapping.
    static AFTER_VALIDATION: std::cell::Cell<Option<fn(libc::c_int)>> =
        const { std::cell::Cell::new(None) };
}

/// Maps the table `c` describes, whatever the file's size says now.
fn map_validated(fd: &Fd, c: &Checked, writable: bool) -> Result<Map> {
    #[cfg(test)]
    if let Some(hook) = AFTER_VALIDATION.with(std::cell::Cell::get) {
        hook(fd.0);
    }
    let total = Layout::for_sizes(c.config.max_engines, c.config.max_tickets).total;
    let map = Map::new(fd, total, writable)?;
    check_mapped(fd, c)?;
    Ok(map)
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
                // SAFETY: `cpath` is a valid NUL-terminated path.
                let fd = unsafe {
                    libc::open(
                        cpath.as_ptr(),
                        libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                        0o600 as libc::c_uint,
                    )
                };
                if fd >= 0 {
                    return create(Fd(fd), cfg, &cpath);
                }
                if errno() != libc::EEXIST {
                    return Err(Error::Io(errno()));
                }
            }
            // SAFETY: as above.
            let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
            if fd < 0 {
                let e = errno();
                if e == libc::ENOENT && config.is_some() {
                    continue; // Unlinked between our two opens: try again.
                }
                return Err(Error::Io(e));
            }
            let fd = Fd(fd);
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
        let cpath = c_path(path.as_ref())?;
        // SAFETY: `cpath` is a valid NUL-terminated path.
        if unsafe { libc::unlink(cpath.as_ptr()) } != 0 {
            return Err(Error::Io(errno()));
        }
        Ok(())
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
        // SAFETY: `cpath` is a valid NUL-terminated path.
        unsafe { libc::unlink(cpath.as_ptr()) };
        e
    };
    // SAFETY: `fd` is open for writing.
    if unsafe { libc::ftruncate(fd.0, layout.total as libc::off_t) } != 0 {
        return Err(fail(Error::Io(errno())));
    }
    let map = Map::new(&fd, layout.total, true).map_err(fail)?;
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
        let cpath = c_path(path.as_ref())?;
        // SAFETY: `cpath` is a valid NUL-terminated path.
        let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(Error::Io(errno()));
        }
        let fd = Fd(fd);
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
