//! Connections to the data server: a small pool, each use bounded by a
//! deadline, Sentinel resolution on every new connection.
//!
//! A call takes an idle connection (or opens one), sets its socket timeouts
//! to the time left before the call's deadline, and gives it back only if
//! nothing went wrong; a connection that saw an I/O error, a read-only
//! answer (a demoted primary) or a protocol error is dropped, so the next
//! call connects afresh and, with Sentinel, asks again who the primary is.

use super::errors;
use super::url::{RedisUrl, Servers};
use crate::{Error, Result};
use redis::{Cmd, ConnectionAddr, ConnectionInfo, ProtocolVersion, RedisConnectionInfo, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Idle connections kept per table handle.
const IDLE_MAX: usize = 32;

/// The connections of one table handle.
pub(crate) struct Pool {
    url: RedisUrl,
    /// The PEM of `?tls_ca=`, read at open.
    tls_ca: Option<Vec<u8>>,
    idle: Mutex<Vec<redis::Connection>>,
}

/// The time left before `deadline`, or `ETIMEDOUT`.
pub(crate) fn left(deadline: Instant) -> Result<Duration> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err(Error::Io(libc::ETIMEDOUT))
    } else {
        Ok(d)
    }
}

impl Pool {
    /// A pool for `url`; reads its `tls_ca` file (`Io(errno)` if it cannot).
    pub(crate) fn new(url: RedisUrl) -> Result<Pool> {
        let tls_ca = match &url.tls_ca {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| Error::Io(e.raw_os_error().unwrap_or(libc::EIO)))?,
            ),
            None => None,
        };
        Ok(Pool {
            url,
            tls_ca,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The longest any one call waits.
    pub(crate) fn timeout(&self) -> Duration {
        self.url.timeout
    }

    /// An idle connection, or a new one opened before `deadline`.
    pub(crate) fn get(&self, deadline: Instant) -> Result<Conn<'_>> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let pooled = idle.is_some();
        let conn = match idle {
            Some(c) => c,
            None => self.connect(deadline)?,
        };
        Ok(Conn {
            pool: self,
            conn: Some(conn),
            pooled,
        })
    }

    /// Drops every idle connection (after one turned out dead).
    pub(crate) fn flush(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn data_info(&self, host: String, port: u16, tls: bool) -> ConnectionInfo {
        let addr = if tls {
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host, port)
        };
        ConnectionInfo {
            addr,
            redis: RedisConnectionInfo {
                db: self.url.db,
                username: self.url.username.clone(),
                password: self.url.password.clone(),
                protocol: ProtocolVersion::RESP2,
            },
        }
    }

    fn connect(&self, deadline: Instant) -> Result<redis::Connection> {
        match &self.url.servers {
            Servers::One { host, port, tls } => open(
                self.data_info(host.clone(), *port, *tls),
                self.tls_ca.as_deref(),
                deadline,
            ),
            Servers::Sentinel { sentinels, master } => {
                self.via_sentinels(sentinels, master, deadline)
            }
        }
    }

    /// Asks each Sentinel in turn for the primary named `master` and
    /// connects to the first answer that says ROLE = master (a Sentinel may
    /// lag a failover; the client guidelines ask for this check).
    fn via_sentinels(
        &self,
        sentinels: &[(String, u16)],
        master: &str,
        deadline: Instant,
    ) -> Result<redis::Connection> {
        let mut last = Error::Io(libc::EHOSTUNREACH);
        for (host, port) in sentinels {
            let info = ConnectionInfo {
                addr: ConnectionAddr::Tcp(host.clone(), *port),
                redis: RedisConnectionInfo::default(),
            };
            let attempt = (|| {
                let mut s = open(info, None, deadline)?;
                let addr: Option<(String, u16)> = query(
                    &mut s,
                    redis::cmd("SENTINEL")
                        .arg("get-master-addr-by-name")
                        .arg(master),
                    deadline,
                )?;
                let (mhost, mport) = addr.ok_or(Error::Io(libc::EHOSTUNREACH))?;
                let mut c = open(self.data_info(mhost, mport, false), None, deadline)?;
                let role: Vec<Value> = query(&mut c, &redis::cmd("ROLE"), deadline)?;
                match role.first() {
                    Some(Value::BulkString(r)) if r == b"master" => Ok(c),
                    _ => Err(Error::Io(libc::EAGAIN)),
                }
            })();
            match attempt {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
            if left(deadline).is_err() {
                break;
            }
        }
        Err(last)
    }
}

/// Opens one connection (TCP connect, TLS, AUTH, SELECT) before `deadline`;
/// `ca`: the PEM of the CA to trust (TLS) instead of the system's.
fn open(info: ConnectionInfo, ca: Option<&[u8]>, deadline: Instant) -> Result<redis::Connection> {
    let tls = matches!(info.addr, ConnectionAddr::TcpTls { .. });
    if tls && !cfg!(feature = "tls") {
        // Built without a TLS stack (the `tls` feature).
        return Err(Error::Io(libc::EPROTONOSUPPORT));
    }
    #[cfg(feature = "tls")]
    let client = match ca {
        Some(pem) if tls => redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            },
        ),
        _ => redis::Client::open(info),
    };
    #[cfg(not(feature = "tls"))]
    let client = {
        let _ = ca;
        redis::Client::open(info)
    };
    let client = client.map_err(|e| errors::to_error(&e))?;
    client
        .get_connection_with_timeout(left(deadline)?)
        .map_err(|e| errors::to_error(&e))
}

/// Runs `cmd` on `c`, waiting at most until `deadline`.
fn query<T: redis::FromRedisValue>(
    c: &mut redis::Connection,
    cmd: &Cmd,
    deadline: Instant,
) -> Result<T> {
    let t = left(deadline)?;
    let set = c
        .set_read_timeout(Some(t))
        .and_then(|_| c.set_write_timeout(Some(t)));
    set.and_then(|_| cmd.query(c))
        .map_err(|e| errors::to_error(&e))
}

/// A connection borrowed from the pool; it goes back when dropped, unless
/// a call on it failed in a way that leaves it unusable.
pub(crate) struct Conn<'p> {
    pool: &'p Pool,
    conn: Option<redis::Connection>,
    pooled: bool,
}

impl Conn<'_> {
    /// Whether it was idle in the pool (so the server may have closed it).
    pub(crate) fn was_pooled(&self) -> bool {
        self.pooled
    }

    /// Sends `cmd` and reads its answer before `deadline`. The raw error is
    /// returned so callers can tell "function missing" from the rest.
    pub(crate) fn run(
        &mut self,
        cmd: &Cmd,
        deadline: Instant,
    ) -> std::result::Result<Value, Failure> {
        let t = left(deadline).map_err(Failure::Local)?;
        let c = self
            .conn
            .as_mut()
            .ok_or(Failure::Local(Error::Io(libc::ECONNRESET)))?;
        let r = c
            .set_read_timeout(Some(t))
            .and_then(|_| c.set_write_timeout(Some(t)))
            .and_then(|_| cmd.query::<Value>(c));
        match r {
            Ok(v) => Ok(v),
            Err(e) => {
                if errors::breaks_connection(&e) {
                    self.conn = None;
                }
                Err(Failure::Server(e))
            }
        }
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < IDLE_MAX {
                idle.push(c);
            }
        }
    }
}

/// Why a call got no usable answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Decided here (deadline passed, connection gone).
    Local(Error),
    /// What the network or the server said.
    Server(redis::RedisError),
}

impl Failure {
    pub(crate) fn to_error(&self) -> Error {
        match self {
            Failure::Local(e) => *e,
            Failure::Server(e) => errors::to_error(e),
        }
    }
}
