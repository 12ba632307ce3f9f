//! Who holds a ticket in a shared table, and whether they still exist.
//!
//! A holder is the process id (low 32 bits) with the low 32 bits of the
//! process's start time (field 22 of `/proc/<pid>/stat`, in clock ticks since
//! boot) above it, so a pid reused by a new process does not count as the
//! holder. 0 means "this process's private table": never reclaimed for
//! liveness.

/// This process's holder identity.
pub(crate) fn current() -> u64 {
    let pid = std::process::id();
    let start = start_time(pid).unwrap_or(0);
    (start & 0xFFFF_FFFF) << 32 | pid as u64
}

/// `(state, start time)` of `pid` from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u8, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields restart after
    // the last ')'. There, field 3 (state) is first and field 22 (start
    // time) is the 20th.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, start)| start)
}

/// `false` only when the holder's process is certainly gone: no such pid,
/// a zombie, or a different process (start time) under the same pid.
pub(crate) fn is_alive(holder: u64) -> bool {
    let pid = holder as u32;
    if pid == 0 {
        return true;
    }
    if pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return false;
    }
    match stat(pid) {
        Some((b'Z' | b'X', _)) => false,
        Some((_, start)) => (start & 0xFFFF_FFFF) == holder >> 32,
        // Exists but unreadable (e.g. hidepid): assume alive.
        None => true,
    }
}

/// A tiny per-sweep cache so each holder's `/proc` entry is read once.
pub(crate) struct LivenessCache {
    entries: [(u64, bool); 16],
    len: usize,
}

impl LivenessCache {
    pub(crate) fn new() -> Self {
        LivenessCache {
            entries: [(0, true); 16],
            len: 0,
        }
    }
    pub(crate) fn is_alive(&mut self, holder: u64) -> bool {
        if let Some(&(_, alive)) = self.entries[..self.len].iter().find(|e| e.0 == holder) {
            return alive;
        }
        let alive = is_alive(holder);
        if self.len < self.entries.len() {
            self.entries[self.len] = (holder, alive);
            self.len += 1;
        }
        alive
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn identity_and_liveness() {
        let me = current();
        assert_eq!(me as u32, std::process::id());
        assert!(is_alive(me));
        assert!(is_alive(0));
        // Same pid, another start time: not us.
        assert!(!is_alive(me ^ (1 << 40)));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!is_alive(pid as u64));
        let mut c = LivenessCache::new();
        assert!(c.is_alive(me));
        assert!(c.is_alive(me));
    }
}
/// The inode of `/proc/self/ns/<kind>`, or 0 when it cannot be read.
pub(crate) fn namespace(kind: &str) -> u64 {
    #[cfg(not(loom))]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/proc/self/ns/{kind}")).map_or(0, |m| m.ino())
    }
    #[cfg(loom)]
    {
        let _ = kind;
        0
    }
}
