//! The opaque `es_table`: creating, freeing and inspecting a table.

use super::backend::Backend;
use super::panic::guard;
use super::ptr::{table_ref, Out};
use super::status::es_status;
use super::types::es_config;
use crate::{Config, Table};

/// A table of engines and tickets (opaque; see `es_table_new`).
///
/// Thread safety: every function taking an `es_table *` may be called from
/// any number of threads at once on the same table (reserve, commit, cancel,
/// release and touch are lock-free and never allocate). The one exception is
/// `es_table_free`, which must not race with any other call on the table,
/// and after which the pointer must not be used again.
pub struct es_table {
    table: Backend,
}

impl es_table {
    /// Moves `table` to the heap and hands it out as a C pointer that
    /// `es_table_free` takes back. (Every constructor of the C API,
    /// `es_table_new`, `es_table_open_shared` and `es_table_open_redis`,
    /// goes through here.)
    pub(crate) fn into_raw(table: impl Into<Backend>) -> *mut es_table {
        Box::into_raw(Box::new(es_table {
            table: table.into(),
        }))
    }

    /// The table behind the C handle (local or remote).
    pub(crate) fn table(&self) -> &Backend {
        &self.table
    }
}

/// Creates a table in this process's memory, sized by `*cfg`, and stores
/// it in `*out`. Lease time is `CLOCK_MONOTONIC`.
///
/// Returns `ES_ERR_NULL` if `cfg` or `out` is NULL, `ES_ERR_INVALID` if a
/// field of `*cfg` is out of range (see `es_config`) or the policy is
/// unknown, `ES_ERR_TABLE_FULL` if the memory for the table cannot be
/// allocated. Free the table with `es_table_free`.
///
/// # Safety
/// `cfg` is NULL or points to a readable `es_config`; `out` is NULL or
/// points to a writable `es_table *`.
#[no_mangle]
pub unsafe extern "C" fn es_table_new(cfg: *const es_config, out: *mut *mut es_table) -> es_status {
    guard(|| {
        // SAFETY: `cfg` is NULL or readable (the caller's contract); every
        // bit pattern is a valid `es_config` (all fields are integers).
        let cfg = try_null!(unsafe { cfg.as_ref() });
        // SAFETY: `out` is NULL or writable for one pointer (contract).
        let out = try_null!(unsafe { Out::new(out) });
        let config = try_status!(Config::try_from(*cfg));
        let table = try_status!(Table::new(config));
        out.write(es_table::into_raw(table));
        es_status::ES_OK
    })
}

/// Extension: writes the default configuration to `*out` — the one
/// definition of the defaults, which the C++ and Go layers read from here:
/// 1024 engines, 16384 tickets, capacity 1, a 30 s pending lease, no active
/// lease, least-loaded selection (about 1.4 MiB of table).
///
/// Returns `ES_ERR_NULL` if `out` is NULL.
///
/// # Safety
/// `out` is NULL or points to a writable `es_config`.
#[no_mangle]
pub unsafe extern "C" fn es_config_default(out: *mut es_config) -> es_status {
    guard(|| {
        // SAFETY: `out` is NULL or writable for one `es_config` (contract).
        let out = try_null!(unsafe { Out::new(out) });
        out.write(es_config::from(&Config::default()));
        es_status::ES_OK
    })
}

/// Frees a table made by `es_table_new` (or opened by `es_table_open_shared`
/// or `es_table_open_redis`). NULL is a no-op.
///
/// Every handle of the table becomes meaningless; the pointer must not be
/// used again, and no other call on the table may be running. A remote
/// table stops its session thread, closes its session if it holds no
/// ticket, and closes its connections (waiting at most twice `timeout_ms`).
///
/// # Safety
/// `t` is NULL or a table from `es_table_new` that was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn es_table_free(t: *mut es_table) {
    guard(|| {
        if !t.is_null() {
            // SAFETY: a non-NULL `t` came from `Box::into_raw` in
            // `es_table::into_raw` and was not freed (contract), and no
            // other call uses it now, so we own it again.
            drop(unsafe { Box::from_raw(t) });
        }
    })
}

/// Extension (not in the product contract): writes the configuration the
/// table was created with to `*out`.
///
/// Returns `ES_ERR_NULL` if `t` or `out` is NULL.
///
/// # Safety
/// `t` is NULL or a live table; `out` is NULL or points to a writable
/// `es_config`.
#[no_mangle]
pub unsafe extern "C" fn es_table_get_config(t: *const es_table, out: *mut es_config) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        // SAFETY: `out` is NULL or writable for one `es_config` (contract).
        let out = try_null!(unsafe { Out::new(out) });
        out.write(es_config::from(table.config()));
        es_status::ES_OK
    })
}
