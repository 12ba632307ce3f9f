//! The shared file under a shared table: descriptors, the header's
//! validation against the file's size, and mappings.
//!
//! Nothing here knows the table's protocols: it opens, checks and maps
//! bytes. An opener waits (bounded) for the creator's `ready` flag, checks
//! every header field against the file's size before mapping, maps exactly
//! the table the header describes and checks the size again once mapped
//! (`crate::table::shared` builds the table on top).

use crate::config::{es_config, Config};
use crate::error::{Error, Result};
use crate::memory::holder;
use crate::memory::layout::{Header, Layout, LAYOUT_VERSION, MAGIC};
use crate::memory::region::Region;
use crate::protocol::clock::monotonic_ns;
use std::ffi::CString;
use std::mem::{offset_of, size_of};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;
use std::time::Duration;

/// How long an opener waits for a creator to finish initialising.
const READY_WAIT: Duration = Duration::from_secs(2);

pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

pub(crate) fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Invalid)
}

/// Closes a file descriptor when dropped.
pub(crate) struct Fd(pub(crate) libc::c_int);

impl Fd {
    /// `open(2)` of `path`; the error is the errno.
    pub(crate) fn open(
        path: &CString,
        flags: libc::c_int,
        mode: libc::c_uint,
    ) -> std::result::Result<Fd, i32> {
        // SAFETY: `path` is a valid NUL-terminated string.
        let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode) };
        if fd < 0 {
            Err(errno())
        } else {
            Ok(Fd(fd))
        }
    }

    /// Sets the file's length to `len` bytes and maps all of it writable.
    pub(crate) fn size_and_map(&self, len: usize) -> Result<Map> {
        // SAFETY: `self` is an open descriptor.
        if unsafe { libc::ftruncate(self.0, len as libc::off_t) } != 0 {
            return Err(Error::Io(errno()));
        }
        Map::new(self, len, true)
    }
}

/// `unlink(2)` of `path`.
pub(crate) fn unlink(path: &CString) -> Result<()> {
    // SAFETY: `path` is a valid NUL-terminated string.
    if unsafe { libc::unlink(path.as_ptr()) } != 0 {
        return Err(Error::Io(errno()));
    }
    Ok(())
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// A mapping that unmaps itself unless handed over to a [`Region`].
pub(crate) struct Map {
    pub(crate) base: NonNull<u8>,
    len: usize,
}

impl Map {
    pub(crate) fn new(fd: &Fd, len: usize, writable: bool) -> Result<Map> {
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
    pub(crate) fn into_region(self, cfg: &Config) -> Region {
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

pub(crate) fn file_size(fd: &Fd) -> Result<u64> {
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
pub(crate) struct Checked {
    pub(crate) config: Config,
    pub(crate) tag: u16,
    /// The creator's PID and time namespaces (0 = unknown).
    pub(crate) pid_ns: u64,
    pub(crate) time_ns: u64,
}

/// Using a table needs the creator's PID namespace (a ticket's holder is a
/// pid there: from another one, a live holder could look dead and lose its
/// tickets) and time namespace (leases are CLOCK_MONOTONIC deadlines).
/// Elsewhere opening fails with `Io(EXDEV)`; `SharedView` (read-only) is
/// allowed anywhere.
pub(crate) fn check_namespaces(c: &Checked) -> Result<()> {
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
pub(crate) fn check_header(b: &[u8], size: u64) -> Result<Checked> {
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
pub(crate) fn wait_ready(fd: &Fd) -> Result<Checked> {
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
    pub(crate) static AFTER_VALIDATION: std::cell::Cell<Option<fn(libc::c_int)>> =
        const { std::cell::Cell::new(None) };
}

/// Maps the table `c` describes, whatever the file's size says now.
pub(crate) fn map_validated(fd: &Fd, c: &Checked, writable: bool) -> Result<Map> {
    #[cfg(test)]
    if let Some(hook) = AFTER_VALIDATION.with(std::cell::Cell::get) {
        hook(fd.0);
    }
    let total = Layout::for_sizes(c.config.max_engines, c.config.max_tickets).total;
    let map = Map::new(fd, total, writable)?;
    check_mapped(fd, c)?;
    Ok(map)
}
