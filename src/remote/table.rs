//! [`RemoteTable`]: the table API over the server-side library.

use super::conn::Pool;
use super::core::{open_args, open_on, Core};
use super::handles::{engine_hex, parse_engine, parse_ticket, ticket_hex};
use super::library::{self, fcall};
use super::nonce;
use super::reply::{self, int_as, Reply, NO_CAPACITY, OK};
use super::session::Heartbeat;
use super::url;
use crate::{
    Config, Engine, EngineSpec, EngineStats, Error, Reservation, Result, Ticket, TicketCounts,
    KEY_MAX,
};
use std::sync::Arc;
use std::time::Instant;

/// A table kept in a Redis server (7.0 or later), shared by every process on
/// every host that opens the same name on the same server.
///
/// It has the methods of [`Table`](crate::Table) with the same semantics
/// and errors (exact admission, exactly once, leases, generation-tagged
/// handles); each call is one round trip (`FCALL`) and one atomic step on
/// the server. What differs:
///
/// * every method can fail with [`Error::Io`] (no answer within the URL's
///   `timeout_ms`, connection refused or lost, ...): then the operation may
///   or may not have taken effect (a reservation that did is reclaimed by
///   its pending lease, or with its session);
/// * so `reclaim_expired`, `snapshot` and `ticket_counts` return `Result`;
/// * leases run on the server's clock;
/// * holder death is a session that stopped being renewed (see the URL's
///   `session_ms`): its tickets are reclaimed like a dead process's;
/// * with `?confirm=N` in the URL (the confirmed mode) every reservation
///   and commit is followed, in the same round trip, by `WAIT N confirm_ms`:
///   one that fewer than `N` replicas confirmed is `Io(ENOLINK)` and is
///   never to be used, so a failover to a replica cannot lose an admission
///   the caller acted on (`docs/REMOTE.md`, "Failover").
///
/// Every method is `&self` and thread-safe: calls use a small connection
/// pool; one background thread renews the session. Open it after `fork`.
///
/// ```no_run
/// use engine_slots::{Config, RemoteTable};
/// let cfg = Config { default_capacity: 2, ..Config::default() };
/// let t = RemoteTable::open("redis://127.0.0.1:6379?timeout_ms=200", "proxy-pool", Some(&cfg))?;
/// let e = match t.find_engine(b"engine-15") {
///     Ok(e) => e,
///     Err(_) => t.add_engine(b"engine-15", 0)?,
/// };
/// if let Some(r) = t.reserve()? {
///     t.commit(r.ticket)?;
///     t.release(r.ticket)?;
/// }
/// # let _ = e;
/// # Ok::<(), engine_slots::Error>(())
/// ```
pub struct RemoteTable {
    core: Arc<Core>,
    heartbeat: Option<Heartbeat>,
}

impl std::fmt::Debug for RemoteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTable")
            .field("name", &self.core.name)
            .field("session", &self.core.sid)
            .field("config", &self.core.config)
            .finish_non_exhaustive()
    }
}

/// Engine keys are checked here too, so a bad key costs no round trip.
fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() || key.len() > KEY_MAX {
        Err(Error::Invalid)
    } else {
        Ok(())
    }
}

fn flag(b: bool) -> &'static [u8] {
    if b {
        b"1"
    } else {
        b"0"
    }
}

/// One row of `es_stats` / `es_snapshot`.
fn stats_of(v: &redis::Value) -> Result<EngineStats> {
    let redis::Value::Array(row) = v else {
        return Err(reply::garbled());
    };
    let [engine, key, capacity, active, pending, external, priority, healthy, draining, rt, xt, user] =
        row.as_slice()
    else {
        return Err(reply::garbled());
    };
    let user: u64 = std::str::from_utf8(reply::bytes(user)?)
        .ok()
        .and_then(|u| u.parse().ok())
        .ok_or(reply::garbled())?;
    EngineStats::from_parts(
        parse_engine(reply::bytes(engine)?)?,
        reply::bytes(key)?,
        int_as(capacity)?,
        int_as(active)?,
        int_as(pending)?,
        int_as(external)?,
        int_as(priority)?,
        int_as::<u8>(healthy)? != 0,
        int_as::<u8>(draining)? != 0,
        int_as(rt)?,
        int_as(xt)?,
        user,
    )
    .ok_or(reply::garbled())
}

impl RemoteTable {
    /// Opens the table `name` (1 to 64 bytes of printable ASCII other than
    /// space, `{` and `}`) kept in the server at `url`, creating it with
    /// `config` when it does not exist. With `config` `None` the table must
    /// exist (else [`Error::NotFound`]) and its own config is taken; with a
    /// `config` that differs from an existing table's, [`Error::Invalid`].
    ///
    /// Loads the server-side library when the server lacks it. Errors:
    /// `Invalid` (malformed URL, name or config), `NotFound`, `Corrupt` (the
    /// table's keys hold something else, or another data format), `Io` (see
    /// the module docs for each errno).
    pub fn open(url: &str, name: &str, config: Option<&Config>) -> Result<RemoteTable> {
        let url = url::parse(url)?;
        let prefix = url::prefix(name)?;
        if let Some(c) = config {
            c.validate()?;
        }
        let session_ms = url.session_ms.to_string();
        let confirm = url.confirm;
        let pool = Pool::new(url)?;
        let sid = nonce::hex();
        let deadline = Instant::now() + pool.timeout();
        let config = {
            let mut conn = pool.get(deadline)?;
            library::ensure(&mut conn, &prefix, deadline)?;
            open_on(
                &mut conn,
                &prefix,
                &open_args(&sid, &session_ms, config),
                deadline,
            )?
        };
        let core = Arc::new(Core {
            pool,
            prefix,
            name: name.to_string(),
            sid,
            session_ms,
            config,
            confirm,
        });
        let heartbeat = Heartbeat::start(Arc::clone(&core)).map_err(|_| Error::Io(libc::EAGAIN))?;
        Ok(RemoteTable {
            core,
            heartbeat: Some(heartbeat),
        })
    }

    /// Deletes the table `name` from the server at `url` (`NotFound` if there
    /// is none). Handles still open on it recreate it, empty, at their next
    /// call; every old handle is stale there.
    pub fn unlink(url: &str, name: &str) -> Result<()> {
        let url = url::parse(url)?;
        let prefix = url::prefix(name)?;
        let pool = Pool::new(url)?;
        let deadline = Instant::now() + pool.timeout();
        let mut conn = pool.get(deadline)?;
        library::ensure(&mut conn, &prefix, deadline)?;
        let v = fcall(&mut conn, "es_unlink", &prefix, &[], deadline)
            .map_err(|f| library::diagnose(&mut conn, &f, deadline))?;
        Reply::parse(v)?.check()
    }

    /// The table's configuration (the one it was created with).
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// This handle's session id (16 hex digits), as the server lists it.
    pub fn session_id(&self) -> &str {
        &self.core.sid
    }

    fn call(&self, func: &str, args: &[&[u8]]) -> Result<Reply> {
        self.core.call(func, args, true)
    }

    /// A call that must reach `?confirm=` replicas (reservations, commits).
    fn call_confirmed(&self, func: &str, args: &[&[u8]]) -> Result<Reply> {
        self.core.call_with(func, args, true, self.core.confirm)
    }

    /// How many replicas each reservation and commit waits for (`?confirm=`;
    /// 0: the confirmed mode is off).
    pub fn confirm_replicas(&self) -> u32 {
        self.core.confirm.map_or(0, |c| u32::from(c.replicas))
    }

    /// Registers an engine (see [`Table::add_engine`](crate::Table::add_engine)).
    pub fn add_engine(&self, key: &[u8], capacity: u32) -> Result<Engine> {
        self.add_engine_with(
            key,
            &EngineSpec {
                capacity,
                ..EngineSpec::default()
            },
        )
    }

    /// Registers an engine with all its settings at once.
    pub fn add_engine_with(&self, key: &[u8], spec: &EngineSpec) -> Result<Engine> {
        check_key(key)?;
        let (cap, prio, ext) = (
            spec.capacity.to_string(),
            spec.priority.to_string(),
            spec.external.to_string(),
        );
        let user = spec.user.to_string();
        let nonce = nonce::hex();
        let r = self.call(
            "es_add",
            &[
                key,
                cap.as_bytes(),
                flag(spec.healthy),
                prio.as_bytes(),
                ext.as_bytes(),
                flag(spec.draining),
                nonce.as_bytes(),
                user.as_bytes(),
            ],
        )?;
        r.check()?;
        parse_engine(r.bytes(1)?)
    }

    /// The engine registered under `key`, registering it with `spec` if
    /// there is none: `(engine, true)` when this call added it (see
    /// [`Table::add_or_find`](crate::Table::add_or_find)). Usually one round
    /// trip; two when the key exists, more only while another client keeps
    /// removing and re-adding it.
    pub fn add_or_find(&self, key: &[u8], spec: &EngineSpec) -> Result<(Engine, bool)> {
        for _ in 0..8 {
            match self.add_engine_with(key, spec) {
                Ok(e) => return Ok((e, true)),
                Err(Error::Exists) => match self.find_engine(key) {
                    Ok(e) => return Ok((e, false)),
                    // Removed between the two calls: add again.
                    Err(Error::NotFound) => continue,
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
        Err(Error::Exists)
    }

    /// Sets the caller's own word for the engine (see
    /// [`Table::set_user`](crate::Table::set_user)).
    pub fn set_user(&self, e: Engine, user: u64) -> Result<()> {
        self.set(e, "user", &user.to_string())
    }

    /// The engine registered under `key`. Errors: `Invalid`, `NotFound`.
    pub fn find_engine(&self, key: &[u8]) -> Result<Engine> {
        check_key(key)?;
        let r = self.call("es_find", &[key])?;
        r.check()?;
        parse_engine(r.bytes(1)?)
    }

    fn set(&self, e: Engine, what: &str, value: &str) -> Result<()> {
        let h = engine_hex(e).ok_or(Error::Stale)?;
        self.call("es_set", &[h.as_bytes(), what.as_bytes(), value.as_bytes()])?
            .check()
    }

    /// Sets the capacity, `1..=2047` (a stale handle is reported first).
    pub fn set_capacity(&self, e: Engine, capacity: u32) -> Result<()> {
        self.set(e, "capacity", &capacity.to_string())
    }

    /// Marks the engine healthy or not.
    pub fn set_healthy(&self, e: Engine, healthy: bool) -> Result<()> {
        self.set(e, "healthy", if healthy { "1" } else { "0" })
    }

    /// Sets the engine's priority.
    pub fn set_priority(&self, e: Engine, priority: i32) -> Result<()> {
        self.set(e, "priority", &priority.to_string())
    }

    /// Sets the streams on the engine that this table does not own.
    pub fn set_external(&self, e: Engine, streams: u32) -> Result<()> {
        self.set(e, "external", &streams.to_string())
    }

    /// Stops new admissions on the engine.
    pub fn drain(&self, e: Engine) -> Result<()> {
        self.set(e, "draining", "1")
    }

    /// Admits on a drained engine again.
    pub fn undrain(&self, e: Engine) -> Result<()> {
        self.set(e, "draining", "0")
    }

    /// Removes the engine; its slot is free at once.
    pub fn remove_engine(&self, e: Engine) -> Result<()> {
        let h = engine_hex(e).ok_or(Error::Stale)?;
        self.call("es_remove", &[h.as_bytes()])?.check()
    }

    fn reserve_with(&self, target: &[u8]) -> Result<Option<Reservation>> {
        let nonce = nonce::hex();
        let core = &self.core;
        let r = self.call_confirmed(
            "es_reserve",
            &[
                core.sid.as_bytes(),
                core.session_ms.as_bytes(),
                nonce.as_bytes(),
                target,
            ],
        )?;
        match r.status() {
            OK => Ok(Some(Reservation {
                ticket: parse_ticket(r.bytes(1)?)?,
                engine: parse_engine(r.bytes(2)?)?,
            })),
            NO_CAPACITY => Ok(None),
            s => Err(reply::status_error(s)),
        }
    }

    /// Reserves a slot on the engine the table's policy picks: `Ok(None)`
    /// when no engine has room (after reclaiming), `TableFull` when every
    /// ticket slot is in use.
    pub fn reserve(&self) -> Result<Option<Reservation>> {
        self.reserve_with(b"")
    }

    /// Reserves a slot on engine `e` only.
    pub fn reserve_on(&self, e: Engine) -> Result<Option<Reservation>> {
        let h = engine_hex(e).ok_or(Error::Stale)?;
        self.reserve_with(h.as_bytes())
    }

    /// Reserves a slot on the engine registered under `key`, in one round
    /// trip (see [`Table::reserve_on_key`](crate::Table::reserve_on_key)).
    pub fn reserve_on_key(&self, key: &[u8]) -> Result<Option<Reservation>> {
        check_key(key)?;
        let mut target = b"k:".to_vec();
        target.extend_from_slice(key);
        self.reserve_with(&target)
    }

    /// Cancels a pending or releases an active ticket, in one round trip
    /// (see [`Table::finish`](crate::Table::finish)).
    pub fn finish(&self, t: Ticket) -> Result<()> {
        self.ticket_op("es_finish", t)
    }

    /// Releases the active ticket and counts its unit as external load
    /// until the next `set_external` (see
    /// [`Table::release_as_external`](crate::Table::release_as_external)).
    pub fn release_as_external(&self, t: Ticket) -> Result<()> {
        self.ticket_op("es_release_ext", t)
    }

    fn ticket_op(&self, func: &str, t: Ticket) -> Result<()> {
        let h = ticket_hex(t).ok_or(Error::Stale)?;
        self.call(func, &[h.as_bytes()])?.check()
    }

    /// The stream started: pending -> active.
    ///
    /// In the confirmed mode (`?confirm=N`) an `Io` answer may also mean the
    /// commit took effect on a primary that no replica confirmed: do not
    /// start the stream; [`finish`](RemoteTable::finish) the ticket (best
    /// effort), else its lease reclaims it.
    pub fn commit(&self, t: Ticket) -> Result<()> {
        let h = ticket_hex(t).ok_or(Error::Stale)?;
        self.call_confirmed("es_commit", &[h.as_bytes()])?.check()
    }

    /// The stream did not start: gives the pending ticket back.
    pub fn cancel(&self, t: Ticket) -> Result<()> {
        self.ticket_op("es_cancel", t)
    }

    /// The stream ended: gives the active ticket back.
    pub fn release(&self, t: Ticket) -> Result<()> {
        self.ticket_op("es_release", t)
    }

    /// Restarts the active ticket's lease.
    pub fn touch(&self, t: Ticket) -> Result<()> {
        self.ticket_op("es_touch", t)
    }

    /// Reclaims tickets whose lease ran out and those of dead sessions (at
    /// most 4096 per call); returns how many.
    pub fn reclaim_expired(&self) -> Result<u32> {
        let r = self.call("es_reclaim", &[])?;
        r.check()?;
        int_as(r.item(1)?)
    }

    /// The current stats of engine `e`, or `Stale`.
    pub fn engine_stats(&self, e: Engine) -> Result<EngineStats> {
        let h = engine_hex(e).ok_or(Error::Stale)?;
        let r = self.call("es_stats", &[h.as_bytes()])?;
        r.check()?;
        stats_of(r.item(1)?)
    }

    /// The stats of every registered engine, in slot order, read in one
    /// atomic step.
    pub fn snapshot(&self) -> Result<Vec<EngineStats>> {
        let r = self.call("es_snapshot", &[])?;
        r.check()?;
        (1..r.len()).map(|i| stats_of(r.item(i)?)).collect()
    }

    /// Calls `f` with the stats of every registered engine, in slot order
    /// (read in one step first, so on an error `f` is never called).
    pub fn for_each_engine(&self, f: impl FnMut(&EngineStats)) -> Result<()> {
        self.snapshot()?.iter().for_each(f);
        Ok(())
    }

    /// Writes the stats of the first `buf.len()` registered engines into
    /// `buf` and returns how many engines are registered in all.
    pub fn snapshot_into(&self, buf: &mut [EngineStats]) -> Result<usize> {
        let all = self.snapshot()?;
        for (slot, s) in buf.iter_mut().zip(&all) {
            *slot = *s;
        }
        Ok(all.len())
    }

    /// Ticket slots by state (exact: one atomic read).
    pub fn ticket_counts(&self) -> Result<TicketCounts> {
        let r = self.call("es_counts", &[])?;
        r.check()?;
        Ok(TicketCounts {
            free: int_as(r.item(1)?)?,
            pending: int_as(r.item(2)?)?,
            active: int_as(r.item(3)?)?,
            // Every step is one atomic call on the server: nothing is ever
            // between two states.
            in_flight: 0,
        })
    }

    /// For tests: runs the table's lease clock (leases, and the
    /// least-recently-reserved order) from `ms` milliseconds, frozen until
    /// set again, instead of the server's `TIME`; `None` goes back to
    /// `TIME`. It is a field of the table (`clk` in `es:{name}:meta`), so it
    /// moves the clock of every client of the table. Sessions always use
    /// `TIME`.
    pub fn set_test_clock(&self, ms: Option<u64>) -> Result<()> {
        let ms = ms.map(|m| m.to_string()).unwrap_or_default();
        self.call("es_test_clock", &[ms.as_bytes()])?.check()
    }
}

impl Drop for RemoteTable {
    fn drop(&mut self) {
        // Stops the session thread; it closes the session on its way out.
        drop(self.heartbeat.take());
    }
}
