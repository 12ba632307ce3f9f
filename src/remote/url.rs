//! The URL of a remote table's server, and the table name.
//!
//! ```text
//! redis://[user:password@]host:port[/db]
//! rediss://[user:password@]host:port[/db]                    (TLS)
//! redis+sentinel://[user:password@]host:port[,host:port...]/master-name[/db]
//! ```
//! and on any of them `?timeout_ms=N` (default 1000: the longest any one
//! call waits) and `?session_ms=N` (default 10000: how long the tickets of a
//! client that stopped renewing its session survive it); on `rediss://`
//! also `?tls_ca=PATH` (a PEM file of the CA to trust instead of the
//! system's, percent-encoded). Credentials and
//! `db` are those of the data server (the primary, for Sentinel); Sentinels
//! are asked without credentials. Anything else is malformed: `Invalid`.

use crate::{Error, Result};
use std::time::Duration;

/// Default of `?timeout_ms=`.
pub const DEFAULT_TIMEOUT_MS: u32 = 1_000;
/// Default of `?session_ms=`.
pub const DEFAULT_SESSION_MS: u32 = 10_000;
/// Range of `?timeout_ms=` (up to an hour).
const TIMEOUT_MS: std::ops::RangeInclusive<u32> = 1..=3_600_000;
/// Range of `?session_ms=` (a tenth of a second to a day; the server has the
/// same upper bound).
const SESSION_MS: std::ops::RangeInclusive<u32> = 100..=86_400_000;
/// Longest table name, in bytes.
pub const NAME_MAX: usize = 64;

/// Where the data server is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Servers {
    /// One server, plain TCP or TLS.
    One { host: String, port: u16, tls: bool },
    /// The primary that these Sentinels name `master`.
    Sentinel {
        sentinels: Vec<(String, u16)>,
        master: String,
    },
}

/// A parsed server URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RedisUrl {
    pub(crate) servers: Servers,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) db: i64,
    pub(crate) timeout: Duration,
    pub(crate) session_ms: u32,
    /// `rediss://` only: trust this CA (a PEM file) instead of the system's.
    pub(crate) tls_ca: Option<String>,
}

/// Parses `url`; `Invalid` for anything malformed.
pub(crate) fn parse(url: &str) -> Result<RedisUrl> {
    let (scheme, rest) = url.split_once("://").ok_or(Error::Invalid)?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (non_empty(decode(user)?), Some(decode(pass)?)),
            None => (non_empty(decode(u)?), None),
        },
    };
    let segments: Vec<&str> = if path.is_empty() || path == "/" {
        Vec::new()
    } else {
        path[1..].split('/').collect()
    };
    let (servers, db) = match scheme {
        "redis" | "rediss" => {
            let mut hosts = host_list(hosts, 6379)?;
            if hosts.len() != 1 || segments.len() > 1 {
                return Err(Error::Invalid);
            }
            let (host, port) = hosts.remove(0);
            let db = segments.first().map(|s| db_number(s)).transpose()?;
            let tls = scheme == "rediss";
            (Servers::One { host, port, tls }, db.unwrap_or(0))
        }
        "redis+sentinel" => {
            let sentinels = host_list(hosts, 26379)?;
            let master = decode(segments.first().ok_or(Error::Invalid)?)?;
            if master.is_empty() || segments.len() > 2 {
                return Err(Error::Invalid);
            }
            let db = segments.get(1).map(|s| db_number(s)).transpose()?;
            (Servers::Sentinel { sentinels, master }, db.unwrap_or(0))
        }
        _ => return Err(Error::Invalid),
    };
    let mut timeout_ms = DEFAULT_TIMEOUT_MS;
    let mut session_ms = DEFAULT_SESSION_MS;
    let mut tls_ca = None;
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        let (k, v) = pair.split_once('=').ok_or(Error::Invalid)?;
        if k == "tls_ca" && scheme == "rediss" && !v.is_empty() {
            tls_ca = Some(decode(v)?);
            continue;
        }
        let n: u32 = v.parse().map_err(|_| Error::Invalid)?;
        match k {
            "timeout_ms" if TIMEOUT_MS.contains(&n) => timeout_ms = n,
            "session_ms" if SESSION_MS.contains(&n) => session_ms = n,
            _ => return Err(Error::Invalid),
        }
    }
    Ok(RedisUrl {
        servers,
        username,
        password,
        db,
        timeout: Duration::from_millis(timeout_ms as u64),
        session_ms,
        tls_ca,
    })
}

/// The key prefix of table `name`: `es:{name}`; the braces make every key
/// of the table share one hash tag. `Invalid` unless the name is 1 to 64
/// bytes of printable ASCII other than space, `{` and `}`.
pub(crate) fn prefix(name: &str) -> Result<String> {
    let ok = (1..=NAME_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}');
    if ok {
        Ok(format!("es:{{{name}}}"))
    } else {
        Err(Error::Invalid)
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn db_number(s: &str) -> Result<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Invalid);
    }
    s.parse::<u16>().map(i64::from).map_err(|_| Error::Invalid)
}

/// `host[:port][,host[:port]...]`, IPv6 hosts in brackets.
fn host_list(s: &str, default_port: u16) -> Result<Vec<(String, u16)>> {
    s.split(',')
        .map(|h| {
            let (host, port) = if let Some(v6) = h.strip_prefix('[') {
                let (host, rest) = v6.split_once(']').ok_or(Error::Invalid)?;
                match rest {
                    "" => (host, None),
                    _ => (host, Some(rest.strip_prefix(':').ok_or(Error::Invalid)?)),
                }
            } else {
                match h.split_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (h, None),
                }
            };
            let bad = |c: char| c.is_whitespace() || "/?#@[]".contains(c);
            if host.is_empty() || host.contains(bad) {
                return Err(Error::Invalid);
            }
            let port = match port {
                None => default_port,
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse::<u16>().map_err(|_| Error::Invalid)?
                }
                Some(_) => return Err(Error::Invalid),
            };
            if port == 0 {
                return Err(Error::Invalid);
            }
            Ok((host.to_string(), port))
        })
        .collect()
}

/// Percent-decoding (`%40` -> `@`); the result must be UTF-8.
fn decode(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(Error::Invalid)?;
            let hex = std::str::from_utf8(hex).map_err(|_| Error::Invalid)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| Error::Invalid)?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(host: &str, port: u16, tls: bool) -> Servers {
        Servers::One {
            host: host.into(),
            port,
            tls,
        }
    }

    #[test]
    fn good_urls() {
        let u = parse("redis://127.0.0.1:6380").unwrap();
        assert_eq!(u.servers, one("127.0.0.1", 6380, false));
        assert_eq!((u.db, u.username, u.password), (0, None, None));
        assert_eq!(u.timeout, Duration::from_millis(1000));
        assert_eq!(u.session_ms, DEFAULT_SESSION_MS);

        let u = parse("rediss://bob:p%40ss@cache.local/3?timeout_ms=250&session_ms=5000").unwrap();
        assert_eq!(u.servers, one("cache.local", 6379, true));
        assert_eq!(u.username.as_deref(), Some("bob"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!((u.db, u.timeout.as_millis(), u.session_ms), (3, 250, 5000));
        let u = parse("rediss://h?tls_ca=%2Fetc%2Fca.pem").unwrap();
        assert_eq!(u.tls_ca.as_deref(), Some("/etc/ca.pem"));

        let u = parse("redis://:secret@[::1]:7000/").unwrap();
        assert_eq!(u.servers, one("::1", 7000, false));
        assert_eq!((u.username, u.password.as_deref()), (None, Some("secret")));

        let u = parse("redis+sentinel://a:1,b,[::1]:3/mymaster/2?timeout_ms=9").unwrap();
        assert_eq!(
            u.servers,
            Servers::Sentinel {
                sentinels: vec![("a".into(), 1), ("b".into(), 26379), ("::1".into(), 3)],
                master: "mymaster".into(),
            }
        );
        assert_eq!((u.db, u.timeout.as_millis()), (2, 9));
    }

    #[test]
    fn malformed_urls() {
        for bad in [
            "",
            "127.0.0.1:6379",
            "http://h:1",
            "redis://",
            "redis://h:0",
            "redis://h:65536",
            "redis://h:x",
            "redis://h:1,g:2",
            "redis://h/1/2",
            "redis://h/db",
            "redis://h/99999",
            "redis://h?timeout_ms=0",
            "redis://h?timeout_ms=-1",
            "redis://h?session_ms=5",
            "redis://h?bogus=1",
            "redis://h?timeout_ms",
            "redis://h?tls_ca=/ca.pem",
            "rediss://h?tls_ca=",
            "redis://u:%zz@h",
            "redis://[::1:5",
            "redis+sentinel://h:1",
            "redis+sentinel://h:1/",
            "redis+sentinel://h:1/m/x",
            "redis+sentinel://h:1/m/1/2",
        ] {
            assert_eq!(parse(bad), Err(Error::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(prefix("t-1.a:b").unwrap(), "es:{t-1.a:b}");
        assert_eq!(prefix(&"n".repeat(64)).unwrap().len(), 64 + 5);
        for bad in ["", "a b", "a{b", "a}b", "tab\t", "é", &"n".repeat(65)] {
            assert_eq!(prefix(bad), Err(Error::Invalid), "{bad:?}");
        }
    }
}
