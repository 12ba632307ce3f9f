//! What a [`RemoteTable`](super::RemoteTable) and its session thread
//! share: the connection pool, the table's name and config, the session,
//! and the one way to call the server-side library (one round trip; the
//! library reloaded or the table recreated when the server lost them; the
//! confirmed mode's `WAIT`).

use super::conn::{Conn, Failure, Pool};
use super::errors;
use super::library::{self, fcall, fcall_confirmed};
use super::reply::{self, Reply, NO_TABLE, OK};
use super::url::{self, Confirm};
use crate::{Config, Error, Policy, Result};
use std::time::Instant;

/// The library's functions that write nothing (safe to send twice).
const READ_ONLY: [&str; 5] = ["es_find", "es_stats", "es_snapshot", "es_counts", "es_beat"];

/// What the table handle and its session thread share.
pub(crate) struct Core {
    pub(super) pool: Pool,
    /// `es:{NAME}`, the one key every call passes.
    pub(super) prefix: String,
    pub(super) name: String,
    /// The session id (16 hex digits).
    pub(super) sid: String,
    pub(super) session_ms: String,
    pub(super) config: Config,
    /// The confirmed mode of the URL (`?confirm=`), `None` when off.
    pub(super) confirm: Option<Confirm>,
}

/// The arguments of `es_open` for `config` (or none: take the table's).
pub(super) fn open_args(sid: &str, session_ms: &str, config: Option<&Config>) -> Vec<Vec<u8>> {
    let mut a: Vec<Vec<u8>> = vec![sid.into(), session_ms.into()];
    match config {
        None => a.push(b"0".to_vec()),
        Some(c) => {
            a.push(b"1".to_vec());
            for n in [
                c.max_engines,
                c.max_tickets,
                c.default_capacity,
                c.pending_lease_ms,
                c.active_lease_ms,
                c.policy as u32,
            ] {
                a.push(n.to_string().into_bytes());
            }
        }
    }
    a
}

/// Opens (or creates) the table on `conn`; returns its config.
pub(super) fn open_on(
    conn: &mut Conn<'_>,
    prefix: &str,
    args: &[Vec<u8>],
    deadline: Instant,
) -> Result<Config> {
    let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let v = fcall(conn, "es_open", prefix, &args, deadline)
        .map_err(|f| library::diagnose(conn, &f, deadline))?;
    let r = Reply::parse(v)?;
    r.check()?;
    let n = |i| {
        r.int(i)
            .and_then(|v| u32::try_from(v).map_err(|_| reply::garbled()))
    };
    Ok(Config {
        max_engines: n(1)?,
        max_tickets: n(2)?,
        default_capacity: n(3)?,
        pending_lease_ms: n(4)?,
        active_lease_ms: n(5)?,
        policy: Policy::from_u32(n(6)?).ok_or(reply::garbled())?,
    })
}

impl Core {
    pub(crate) fn session_ms(&self) -> u32 {
        self.session_ms.parse().unwrap_or(url::DEFAULT_SESSION_MS)
    }

    /// One library call: one round trip, plus (rarely) loading the library
    /// when the server lost it, or creating the table again when it is
    /// gone (`recreate`), all within one timeout.
    ///
    /// A read-only call (`es_find`, `es_stats`, ...) that fails on a pooled
    /// connection the server closed meanwhile (a restart, a failover) is
    /// retried once on a new connection; a call that writes is not (it may
    /// have taken effect) and returns `Io`.
    pub(super) fn call(&self, func: &str, args: &[&[u8]], recreate: bool) -> Result<Reply> {
        self.call_with(func, args, recreate, None)
    }

    /// As [`Core::call`] with `confirm`: the call is followed by `WAIT` in
    /// the same round trip, and an `OK` that fewer replicas than asked
    /// confirmed is `Io(ENOLINK)` (the write may be lost by a failover; the
    /// caller never uses it). An unconfirmed reservation is cancelled on the
    /// way out (best effort, same deadline), so a primary that survives
    /// gets the slot back at once rather than at the end of the lease.
    pub(super) fn call_with(
        &self,
        func: &str,
        args: &[&[u8]],
        recreate: bool,
        confirm: Option<Confirm>,
    ) -> Result<Reply> {
        let deadline = Instant::now() + self.pool.timeout();
        let mut conn = self.pool.get(deadline)?;
        let (mut reloaded, mut reopened) = (false, false);
        let mut retry = READ_ONLY.contains(&func);
        loop {
            let sent = match confirm {
                None => fcall(&mut conn, func, &self.prefix, args, deadline).map(|v| (v, None)),
                Some(c) => fcall_confirmed(&mut conn, func, &self.prefix, args, c, deadline)
                    .map(|(v, acked)| (v, Some(acked))),
            };
            match sent {
                Ok((v, acked)) => {
                    let r = Reply::parse(v)?;
                    if r.status() == NO_TABLE && recreate && !reopened {
                        reopened = true;
                        let a = open_args(&self.sid, &self.session_ms, Some(&self.config));
                        open_on(&mut conn, &self.prefix, &a, deadline)?;
                        continue;
                    }
                    if let (Some(c), Some(acked)) = (confirm, acked) {
                        if r.status() == OK && acked < i64::from(c.replicas) {
                            if func == "es_reserve" {
                                if let Ok(ticket) = r.bytes(1) {
                                    let _ = fcall(
                                        &mut conn,
                                        "es_cancel",
                                        &self.prefix,
                                        &[ticket],
                                        deadline,
                                    );
                                }
                            }
                            return Err(Error::Io(libc::ENOLINK));
                        }
                    }
                    return Ok(r);
                }
                Err(Failure::Server(e)) if errors::function_missing(&e) && !reloaded => {
                    reloaded = true;
                    library::load(&mut conn, deadline)?;
                }
                Err(Failure::Server(e)) if retry && conn.was_pooled() && errors::dropped(&e) => {
                    retry = false;
                    drop(conn);
                    self.pool.flush();
                    conn = self.pool.get(deadline)?;
                }
                Err(f) => {
                    if matches!(&f, Failure::Server(e) if errors::dropped(e)) {
                        // The others idle since the same event are likely dead too.
                        self.pool.flush();
                    }
                    return Err(library::diagnose(&mut conn, &f, deadline));
                }
            }
        }
    }

    /// Renews the session (the heartbeat).
    pub(crate) fn renew(&self) -> Result<()> {
        self.call(
            "es_beat",
            &[self.sid.as_bytes(), self.session_ms.as_bytes()],
            false,
        )?
        .check()
    }

    /// Ends the session if it holds no ticket.
    pub(crate) fn close(&self) -> Result<()> {
        self.call("es_close", &[self.sid.as_bytes()], false)?
            .check()
    }
}
