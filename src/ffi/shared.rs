//! Shared tables: one table in a file that several processes map.

use super::backend::es_table;
use super::panic::guard;
use super::ptr::Out;
use super::status::es_status;
use super::types::es_config;
use crate::{Config, Table};
use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;

/// The path behind a C string, or `None` for NULL.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string that stays readable.
unsafe fn path_ref<'a>(path: *const c_char) -> Option<&'a OsStr> {
    if path.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated (the caller's contract).
    Some(OsStr::from_bytes(
        unsafe { CStr::from_ptr(path) }.to_bytes(),
    ))
}

/// Opens the shared table stored in the file at `path`, creating it (mode
/// 0600) if it does not exist, and stores it in `*out`.
///
/// When creating, `cfg` is required and validated (`ES_ERR_INVALID`). When
/// opening, `cfg` may be NULL (take the file's own config) or must equal
/// the file's config (else `ES_ERR_INVALID`). Concurrent creators race
/// safely: exactly one initializes, the others wait for it (up to 2 s).
/// A file with a wrong magic, version, size or out-of-range field, or one
/// that was never initialized, is `ES_ERR_CORRUPT` and is never read out of
/// bounds. A failing open/create/map is `ES_ERR_IO` with `errno` kept; with
/// `cfg` NULL and no file, that is `ES_ERR_IO` with `errno == ENOENT`.
///
/// In a shared table a ticket records the process holding it;
/// `es_reclaim_expired` (and `es_reserve` when it finds no room, at most
/// every 50 ms per process) reclaims the tickets of processes that no
/// longer exist. Open the table after `fork`, not before. `es_table_free`
/// unmaps the table; it never deletes the file.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `cfg` is NULL or points to a
/// readable `es_config`; `out` is NULL or points to a writable
/// `es_table *`.
#[no_mangle]
pub unsafe extern "C" fn es_table_open_shared(
    path: *const c_char,
    cfg: *const es_config,
    out: *mut *mut es_table,
) -> es_status {
    guard(|| {
        // SAFETY: `path` is NULL or NUL-terminated (contract).
        let path = try_null!(unsafe { path_ref(path) });
        // SAFETY: `out` is NULL or writable for one pointer (contract).
        let out = try_null!(unsafe { Out::new(out) });
        // SAFETY: `cfg` is NULL or readable (contract); every bit pattern
        // is a valid `es_config` (all fields are integers).
        let config = match unsafe { cfg.as_ref() } {
            Some(c) => Some(try_status!(Config::try_from(*c))),
            None => None,
        };
        let table = try_status!(Table::open_shared(path, config.as_ref()));
        out.write(es_table::into_raw(table));
        es_status::ES_OK
    })
}

/// Deletes the file of a shared table (`ES_ERR_IO` with `errno` kept when
/// that fails). Processes that have the table open keep using it until they
/// free it.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn es_table_unlink_shared(path: *const c_char) -> es_status {
    guard(|| {
        // SAFETY: `path` is NULL or NUL-terminated (contract).
        let path = try_null!(unsafe { path_ref(path) });
        try_status!(Table::unlink_shared(path));
        es_status::ES_OK
    })
}
