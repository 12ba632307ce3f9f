//! Remote tables: one table kept in a Redis server (7.0 or later), shared
//! by every process on every host that opens the same name there.

use super::panic::guard;
use super::ptr::Out;
use super::status::es_status;
use super::table::es_table;
use super::types::es_config;
use crate::{Config, Error, RemoteTable};
use std::ffi::{c_char, CStr};

/// The UTF-8 text behind a C string: `None` for NULL, `Invalid` for bytes
/// that are not UTF-8.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string that stays readable.
unsafe fn text<'a>(s: *const c_char) -> Option<Result<&'a str, Error>> {
    if s.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated (the caller's contract).
    let bytes = unsafe { CStr::from_ptr(s) }.to_bytes();
    Some(std::str::from_utf8(bytes).map_err(|_| Error::Invalid))
}

/// Opens the table named `name` kept in the Redis server (7.0 or later) at
/// `url`, creating it if it does not exist, and stores it in `*out`.
///
/// `name`: 1 to 64 bytes of printable ASCII other than space, `{` and `}`.
/// `url`: `redis://[user:password@]host:port[/db]`, `rediss://...` (TLS),
/// or `redis+sentinel://[user:password@]host:port[,host:port...]/master-name[/db]`
/// (the primary Sentinel names now, followed across failovers); on any of
/// them `?timeout_ms=N` (default 1000: the longest any one call waits) and
/// `?session_ms=N` (default 10000: how long after this process stops
/// renewing its session, because it died or lost the server, its tickets
/// are reclaimed; a background thread renews it every `session_ms / 3`);
/// on `rediss://` also `?tls_ca=PATH` (trust this PEM CA, not the system's).
///
/// The cfg rules are those of `es_table_open_shared`: creating needs `cfg`;
/// opening takes the table's own config when `cfg` is NULL, and a `cfg`
/// that differs from it is `ES_ERR_INVALID`. The table then works with
/// every `es_*` function, with the same statuses and guarantees, each call
/// one round trip. Returns `ES_ERR_NULL` (`url`, `name` or `out` NULL),
/// `ES_ERR_INVALID` (malformed url, name or cfg), `ES_ERR_NOT_FOUND` (no
/// such table and `cfg` NULL), `ES_ERR_CORRUPT` (the table's keys hold
/// something else, or another data format), `ES_ERR_IO` with `errno`:
/// `ETIMEDOUT`, `ECONNREFUSED`, `ECONNRESET`, `EACCES` (wrong password,
/// ACL), `ENOTSUP` (server older than 7.0), `ENOSYS` (`FCALL`/`FUNCTION`
/// disabled), `EAGAIN`, `EHOSTUNREACH` (no Sentinel named a primary),
/// `EPROTO` (another protocol major). On any table, a call that returned
/// `ES_ERR_IO` may or may not have taken effect (a reservation that did is
/// reclaimed by its pending lease). `es_table_free` closes the connections.
///
/// # Safety
/// `url` and `name` are NULL or NUL-terminated strings; `cfg` is NULL or
/// points to a readable `es_config`; `out` is NULL or points to a writable
/// `es_table *`.
#[no_mangle]
pub unsafe extern "C" fn es_table_open_redis(
    url: *const c_char,
    name: *const c_char,
    cfg: *const es_config,
    out: *mut *mut es_table,
) -> es_status {
    guard(|| {
        // SAFETY: `url` and `name` are NULL or NUL-terminated (contract).
        let url = try_status!(try_null!(unsafe { text(url) }));
        // SAFETY: as above.
        let name = try_status!(try_null!(unsafe { text(name) }));
        // SAFETY: `out` is NULL or writable for one pointer (contract).
        let out = try_null!(unsafe { Out::new(out) });
        // SAFETY: `cfg` is NULL or readable (contract); every bit pattern
        // is a valid `es_config` (all fields are integers).
        let config = match unsafe { cfg.as_ref() } {
            Some(c) => Some(try_status!(Config::try_from(*c))),
            None => None,
        };
        let table = try_status!(RemoteTable::open(url, name, config.as_ref()));
        out.write(es_table::into_raw(table));
        es_status::ES_OK
    })
}

/// Deletes the remote table `name` from the server at `url` (url and name
/// as for `es_table_open_redis`). `ES_ERR_NOT_FOUND` if there is none.
/// Handles still open on it create it again, empty, at their next call;
/// every handle from before is stale there.
///
/// # Safety
/// `url` and `name` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn es_table_unlink_redis(
    url: *const c_char,
    name: *const c_char,
) -> es_status {
    guard(|| {
        // SAFETY: `url` and `name` are NULL or NUL-terminated (contract).
        let url = try_status!(try_null!(unsafe { text(url) }));
        // SAFETY: as above.
        let name = try_status!(try_null!(unsafe { text(name) }));
        try_status!(RemoteTable::unlink(url, name));
        es_status::ES_OK
    })
}
