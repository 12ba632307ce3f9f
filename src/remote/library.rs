//! The server-side library (`redis/engine_slots.lua`): calling its
//! functions, loading it, checking its version.
//!
//! The library is loaded when a server does not have it: at open, and
//! whenever a call answers that the function is missing (a server restarted
//! without persistence loses its functions). A library of another protocol
//! major is never replaced (its clients would break): opening fails with
//! `EPROTO`. One of the same major but an older minor is replaced by ours
//! (minors only add).

use super::conn::{Conn, Failure};
use super::errors;
use crate::{Error, Result};
use redis::Value;
use std::time::Instant;

/// The library's source, the same file every client loads.
pub(crate) const SOURCE: &str = include_str!("../../redis/engine_slots.lua");
/// The protocol major this client speaks (`MAJOR` in the library).
pub(crate) const MAJOR: i64 = 1;
/// The protocol minor of [`SOURCE`] (`MINOR` in the library).
pub(crate) const MINOR: i64 = 1;

/// `FCALL func 1 prefix args...` on `conn`.
pub(crate) fn fcall(
    conn: &mut Conn<'_>,
    func: &str,
    prefix: &str,
    args: &[&[u8]],
    deadline: Instant,
) -> std::result::Result<Value, Failure> {
    let mut cmd = redis::cmd("FCALL");
    cmd.arg(func).arg(1).arg(prefix);
    for a in args {
        cmd.arg(*a);
    }
    conn.run(&cmd, deadline)
}

/// Loads (or replaces) the library.
pub(crate) fn load(conn: &mut Conn<'_>, deadline: Instant) -> Result<()> {
    let mut cmd = redis::cmd("FUNCTION");
    cmd.arg("LOAD").arg("REPLACE").arg(SOURCE);
    match conn.run(&cmd, deadline) {
        Ok(_) => Ok(()),
        Err(f) => Err(diagnose(conn, &f, deadline)),
    }
}

/// Makes sure the server has a library this client can use.
pub(crate) fn ensure(conn: &mut Conn<'_>, prefix: &str, deadline: Instant) -> Result<()> {
    match fcall(conn, "es_version", prefix, &[], deadline) {
        Ok(Value::Array(v)) => match v.as_slice() {
            [Value::Int(major), Value::Int(minor)] if *major == MAJOR => {
                if *minor < MINOR {
                    load(conn, deadline)?;
                }
                Ok(())
            }
            _ => Err(Error::Io(libc::EPROTO)),
        },
        Ok(_) => Err(Error::Io(libc::EPROTO)),
        Err(Failure::Server(e)) if errors::function_missing(&e) => load(conn, deadline),
        Err(f) => Err(diagnose(conn, &f, deadline)),
    }
}

/// The error for a failed call; tells a server without Functions
/// (`ENOTSUP`, older than 7.0) from one where they are disabled (`ENOSYS`).
pub(crate) fn diagnose(conn: &mut Conn<'_>, f: &Failure, deadline: Instant) -> Error {
    match f {
        Failure::Server(e) if errors::unknown_command(e) => {
            let info = conn.run(redis::cmd("INFO").arg("server"), deadline);
            let major = match &info {
                Ok(Value::BulkString(b)) => String::from_utf8_lossy(b)
                    .lines()
                    .find_map(|l| l.strip_prefix("redis_version:").map(str::to_owned))
                    .and_then(|v| v.split('.').next()?.trim().parse::<u32>().ok()),
                _ => None,
            };
            match major {
                Some(m) if m < 7 => Error::Io(libc::ENOTSUP),
                _ => Error::Io(libc::ENOSYS),
            }
        }
        _ => f.to_error(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library states the versions and limits this client assumes.
    #[test]
    fn library_matches_the_crate() {
        let line = |name: &str| {
            SOURCE
                .lines()
                .find_map(|l| l.strip_prefix(&format!("local {name} = ")))
                .unwrap_or_else(|| panic!("no `local {name}` in the library"))
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        };
        assert!(SOURCE.starts_with("#!lua name=engine_slots\n"));
        assert_eq!(line("MAJOR"), MAJOR.to_string());
        assert_eq!(line("MINOR"), MINOR.to_string());
        assert_eq!(line("MAX_ENGINES"), crate::MAX_ENGINES.to_string());
        assert_eq!(line("MAX_TICKETS"), crate::MAX_TICKETS.to_string());
        assert_eq!(line("MAX_CAPACITY"), crate::MAX_CAPACITY.to_string());
        assert_eq!(line("KEY_MAX"), crate::KEY_MAX.to_string());
        assert_eq!(line("MAX_SESSION_MS"), "86400000");
        let lease = crate::MAX_LEASE_MS as u64;
        assert_eq!(line("MAX_LEASE_MS"), "2147483647");
        assert_eq!(lease, 2_147_483_647 - 3_600_000);
    }
}
