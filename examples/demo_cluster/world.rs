//! The simulated world, shared by the proxy processes: a file of counters
//! mapped into every process (the engines' ground truth, the orchestrator's
//! lagging counts, and what the proxies saw).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// Engines in the fleet (as `make demo`).
pub const ENGINES: usize = 10;
/// Streams one engine may serve at once.
pub const CAPACITY: u64 = 2;

/// Counters after the per-engine ones, by index.
#[derive(Clone, Copy)]
pub enum Count {
    /// Most streams ever running on one engine at once.
    MaxRunning,
    /// Streams started on an engine already running `CAPACITY`.
    Overcommitted,
    /// Requests refused: no engine had room.
    Refused,
    /// Requests that failed because the table did not answer or no replica
    /// confirmed (`ES_ERR_IO`): refused too, during the failover.
    Unavailable,
    /// Placed requests whose error path forgot to clean up.
    Forgot,
    /// Commits refused (`ES_ERR_IO` or stale): the stream was stopped.
    CommitFailed,
    /// Requests in all.
    Requests,
    /// Nanoseconds spent deciding (in `reserve`).
    DecisionNs,
}

const COUNTS: usize = 8;
/// running[ENGINES], reported[ENGINES], then the `Count`s.
const WORDS: usize = 2 * ENGINES + COUNTS;

/// The mapped counters.
pub struct World {
    ptr: *mut AtomicU64,
}

// SAFETY: the mapping is only accessed through atomics, and stays mapped
// for the World's life.
unsafe impl Sync for World {}
// SAFETY: as above; the pointer is not tied to a thread.
unsafe impl Send for World {}

impl World {
    /// Maps the counters in `path` (created zeroed when missing).
    pub fn open(path: &Path) -> std::io::Result<World> {
        use std::os::unix::io::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        f.set_len((WORDS * 8) as u64)?;
        // SAFETY: maps WORDS * 8 bytes of a file just sized to that, shared;
        // the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                WORDS * 8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(World { ptr: p.cast() })
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < WORDS);
        // SAFETY: i < WORDS, inside the mapping (page-aligned, so 8-byte
        // aligned); AtomicU64 has u64's layout.
        unsafe { &*self.ptr.add(i) }
    }

    /// A counter.
    pub fn count(&self, c: Count) -> &AtomicU64 {
        self.word(2 * ENGINES + c as usize)
    }

    /// A stream starts on engine `i` (the engine counts it at once).
    pub fn start(&self, i: usize) {
        let before = self.word(i).fetch_add(1, SeqCst);
        if before >= CAPACITY {
            self.count(Count::Overcommitted).fetch_add(1, SeqCst);
        }
        self.count(Count::MaxRunning).fetch_max(before + 1, SeqCst);
    }

    /// A stream on engine `i` ends.
    pub fn end(&self, i: usize) {
        self.word(i).fetch_sub(1, SeqCst);
    }

    /// The orchestrator now counts one more (`+1`) or one fewer stream on
    /// engine `i`.
    pub fn report(&self, i: usize, up: bool) {
        let w = self.word(ENGINES + i);
        if up {
            w.fetch_add(1, SeqCst);
        } else {
            w.fetch_sub(1, SeqCst);
        }
    }

    /// Streams running on all engines now.
    pub fn running(&self) -> u64 {
        (0..ENGINES).map(|i| self.word(i).load(SeqCst)).sum()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `open` mapped; no reference into it
        // outlives self.
        unsafe { libc::munmap(self.ptr.cast(), WORDS * 8) };
    }
}
