//! Read-only views of a table: one engine, all engines, ticket states.

use super::panic::guard;
use super::ptr::{table_ref, Out};
use super::status::es_status;
use super::table::es_table;
use super::types::{es_engine, es_engine_stats, es_ticket_counts};
use crate::Engine;

/// Stores a consistent view of engine `e` in `*out`.
///
/// Returns `ES_ERR_STALE` if `e` is not a live engine, `ES_ERR_NULL` if `t`
/// or `out` is NULL.
///
/// # Safety
/// `t` is NULL or a live table; `out` is NULL or points to a writable
/// `es_engine_stats`.
#[no_mangle]
pub unsafe extern "C" fn es_engine_stats_get(
    t: *const es_table,
    e: es_engine,
    out: *mut es_engine_stats,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        // SAFETY: `out` is NULL or writable for one `es_engine_stats`.
        let out = try_null!(unsafe { Out::new(out) });
        let stats = try_status!(table.engine_stats(Engine::from_raw(e)));
        out.write(es_engine_stats::from(&stats));
        es_status::ES_OK
    })
}

/// Stats of every live engine, in slot order, without allocating.
///
/// `*len` receives the number of live engines; the first `min(cap, *len)`
/// of them are written to `buf[0..]`. `buf` may be NULL when `cap` is 0,
/// which makes the call a size query. Engines added or removed during the
/// call may or may not be included; each entry is itself consistent.
///
/// Returns `ES_ERR_NULL` if `t` or `len` is NULL, or `buf` is NULL with
/// `cap > 0`.
///
/// # Safety
/// `t` is NULL or a live table; `buf` is NULL or points to `cap` writable
/// `es_engine_stats`; `len` is NULL or points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn es_table_snapshot(
    t: *const es_table,
    buf: *mut es_engine_stats,
    cap: usize,
    len: *mut usize,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        // SAFETY: `len` is NULL or writable for one `size_t` (contract).
        let len = try_null!(unsafe { Out::new(len) });
        if buf.is_null() && cap > 0 {
            return es_status::ES_ERR_NULL;
        }
        let mut n = 0usize;
        try_status!(table.for_each_engine(|s| {
            if n < cap {
                // SAFETY: `buf` is non-NULL here (cap > 0) and writable for
                // `cap` elements (contract), and `n < cap`. `write` forms no
                // reference, so `buf` may be uninitialised.
                unsafe { buf.add(n).write(es_engine_stats::from(s)) };
            }
            n += 1;
        }));
        len.write(n);
        es_status::ES_OK
    })
}

/// Extension (not in the product contract): how many ticket slots are
/// free, pending and active, stored in `*out`. A racy count under
/// concurrency (each slot is read once); exact at quiescence, which makes it
/// a leak check.
///
/// # Safety
/// `t` is NULL or a live table; `out` is NULL or points to a writable
/// `es_ticket_counts`.
#[no_mangle]
pub unsafe extern "C" fn es_table_ticket_counts(
    t: *const es_table,
    out: *mut es_ticket_counts,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        // SAFETY: `out` is NULL or writable for one `es_ticket_counts`.
        let out = try_null!(unsafe { Out::new(out) });
        out.write(try_status!(table.ticket_counts()).into());
        es_status::ES_OK
    })
}
