//! A file of `n` u32 counters mapped shared by every process of a test: a
//! count the test's clients keep themselves, independent of the table under
//! test (how many admissions each engine holds by their own reckoning).

use std::path::Path;
use std::sync::atomic::AtomicU32;

pub struct Shadow {
    ptr: *mut AtomicU32,
    n: usize,
}

// SAFETY: the mapping is only accessed through atomics.
unsafe impl Sync for Shadow {}

impl Shadow {
    /// Maps the file at `path` (created if missing, sized to `n` counters;
    /// a new file's counters are 0).
    pub fn open(path: &Path, n: usize) -> Shadow {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap();
        f.set_len((n * 4) as u64).unwrap();
        // SAFETY: a shared mapping of a file we just sized to n*4 bytes.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                n * 4,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        Shadow { ptr: p.cast(), n }
    }

    /// Counter `i` (< n).
    pub fn at(&self, i: usize) -> &AtomicU32 {
        assert!(i < self.n);
        // SAFETY: i < n, inside the live mapping; AtomicU32 has u32's layout.
        unsafe { &*self.ptr.add(i) }
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `open` mapped.
        unsafe { libc::munmap(self.ptr.cast(), self.n * 4) };
    }
}
