//! Tickets: reserving a slot, finishing it (commit / cancel / release),
//! keeping it alive (touch) and reclaiming leaked ones.
//!
//! These are the hot-path calls: none of them locks or allocates. Every
//! function taking an `es_ticket` answers `ES_ERR_STALE`, and changes
//! nothing, for a ticket that is not in the state the operation needs
//! (finished, already committed, expired, 0, from another table, garbage).

use super::backend::es_table;
use super::panic::guard;
use super::ptr::{key_slice, table_ref, Out};
use super::status::es_status;
use super::types::{es_engine, es_ticket};
use crate::{Engine, Reservation, Ticket};

/// Writes a reservation's ticket (and engine) on success.
#[inline(always)]
fn answer(
    r: crate::Result<Option<Reservation>>,
    ticket: Out<es_ticket>,
    engine: Option<Out<es_engine>>,
) -> es_status {
    match r {
        Ok(Some(res)) => {
            ticket.write(res.ticket.raw());
            if let Some(engine) = engine {
                engine.write(res.engine.raw());
            }
            es_status::ES_OK
        }
        Ok(None) => es_status::ES_NO_CAPACITY,
        Err(e) => es_status::from_error(e),
    }
}

/// Reserves a slot on the engine the table's policy picks: stores the new
/// pending ticket in `*ticket` and its engine in `*engine`.
///
/// Returns `ES_NO_CAPACITY` if no engine has room (after reclaiming expired
/// tickets), `ES_ERR_TABLE_FULL` if every ticket slot is in use,
/// `ES_ERR_NULL` if `t`, `ticket` or `engine` is NULL (then nothing is
/// reserved). Commit the ticket once the stream started, or cancel it.
///
/// # Safety
/// `t` is NULL or a live table; `ticket` and `engine` are NULL or point to
/// a writable `es_ticket` / `es_engine`.
#[no_mangle]
pub unsafe extern "C" fn es_reserve(
    t: *mut es_table,
    ticket: *mut es_ticket,
    engine: *mut es_engine,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        // SAFETY: `ticket` is NULL or writable for one `es_ticket` (contract).
        let ticket = try_null!(unsafe { Out::new(ticket) });
        // SAFETY: `engine` is NULL or writable for one `es_engine` (contract).
        let engine = try_null!(unsafe { Out::new(engine) });
        answer(table.reserve(), ticket, Some(engine))
    })
}

/// Reserves a slot on engine `e` only, storing the pending ticket in
/// `*ticket`.
///
/// Returns `ES_NO_CAPACITY` if `e` is full or draining, `ES_ERR_STALE` if
/// `e` is not a live engine, `ES_ERR_TABLE_FULL` if every ticket slot is in
/// use, `ES_ERR_NULL` if `t` or `ticket` is NULL.
///
/// # Safety
/// `t` is NULL or a live table; `ticket` is NULL or points to a writable
/// `es_ticket`.
#[no_mangle]
pub unsafe extern "C" fn es_reserve_on(
    t: *mut es_table,
    e: es_engine,
    ticket: *mut es_ticket,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        // SAFETY: `ticket` is NULL or writable for one `es_ticket` (contract).
        let ticket = try_null!(unsafe { Out::new(ticket) });
        answer(table.reserve_on(Engine::from_raw(e)), ticket, None)
    })
}

/// Extension: reserves a slot on the engine registered under
/// `(key, key_len)`, storing the pending ticket in `*ticket` and the
/// engine in `*engine` (`es_engine_find` and `es_reserve_on` in one call).
///
/// Returns `ES_ERR_NOT_FOUND` if no engine has that key, `ES_ERR_INVALID`
/// for a key length of 0 or above `ES_KEY_MAX`, `ES_NO_CAPACITY` if the
/// engine is full or draining, `ES_ERR_TABLE_FULL` if every ticket slot is
/// in use, `ES_ERR_NULL` if `t`, `ticket` or `engine` is NULL, or `key` is
/// NULL with `key_len > 0`.
///
/// # Safety
/// `t` is NULL or a live table; `key` is NULL or readable for `key_len`
/// bytes; `ticket` and `engine` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn es_reserve_on_key(
    t: *mut es_table,
    key: *const u8,
    key_len: usize,
    ticket: *mut es_ticket,
    engine: *mut es_engine,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        // SAFETY: `ticket` is NULL or writable for one `es_ticket` (contract).
        let ticket = try_null!(unsafe { Out::new(ticket) });
        // SAFETY: `engine` is NULL or writable for one `es_engine` (contract).
        let engine = try_null!(unsafe { Out::new(engine) });
        // SAFETY: `key` is NULL or readable for `key_len` bytes (contract).
        let key = try_status!(unsafe { key_slice(key, key_len) });
        answer(table.reserve_on_key(key), ticket, Some(engine))
    })
}

/// The stream started: the pending ticket becomes active (its active lease
/// starts now).
///
/// Returns `ES_ERR_STALE` if the ticket is not pending (finished, already
/// committed, expired) or if its engine was removed, in which case the
/// ticket is finished too.
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_commit(t: *mut es_table, ticket: es_ticket) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.commit(Ticket::from_raw(ticket)).into()
    })
}

/// The stream did not start: the pending ticket is given back. `ES_OK` also
/// when its engine was removed (then only the ticket is freed).
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_cancel(t: *mut es_table, ticket: es_ticket) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.cancel(Ticket::from_raw(ticket)).into()
    })
}

/// The stream ended: the active ticket is given back. `ES_OK` also when its
/// engine was removed (then only the ticket is freed). `ES_ERR_STALE` for a
/// pending ticket (cancel it instead) or a second release.
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_release(t: *mut es_table, ticket: es_ticket) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.release(Ticket::from_raw(ticket)).into()
    })
}

/// Extension: finishes the ticket whatever its state — cancels it if
/// pending, releases it if active — with the same exactly-once rules (the
/// one definition of "finish" the C++ `Ticket` and the Go binding use).
///
/// Returns `ES_OK` when this call finished it (also when its engine was
/// removed: then only the ticket is freed), `ES_ERR_STALE` when it was
/// already finished, expired, reclaimed, or is not a ticket of this table
/// (nothing changes).
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_finish(t: *mut es_table, ticket: es_ticket) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.finish(Ticket::from_raw(ticket)).into()
    })
}

/// Extension: releases the active ticket and, in the same atomic step,
/// counts its unit as external load on its engine until the next
/// `es_engine_set_external` on it. For a proxy that derives external load
/// from an orchestrator's totals (ours included): the stream it just ended
/// may still be in the next report, so the slot is handed back by that
/// report, not at once. Statuses as `es_release`.
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_release_as_external(t: *mut es_table, ticket: es_ticket) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.release_as_external(Ticket::from_raw(ticket)).into()
    })
}

/// The stream is still alive: restarts the active ticket's lease from now.
/// `ES_ERR_STALE` if the ticket is not active (or its lease already ran
/// out: it is then reclaimed).
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_touch(t: *mut es_table, ticket: es_ticket) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.touch(Ticket::from_raw(ticket)).into()
    })
}

/// Reclaims every ticket whose lease ran out, and stores how many in
/// `*reclaimed` unless `reclaimed` is NULL. (`es_reserve` also reclaims
/// when it finds no room; call this to win capacity back eagerly, e.g.
/// from a timer.) Scans every ticket slot.
///
/// # Safety
/// `t` is NULL or a live table; `reclaimed` is NULL or points to a
/// writable `uint32_t`.
#[no_mangle]
pub unsafe extern "C" fn es_reclaim_expired(t: *mut es_table, reclaimed: *mut u32) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        // SAFETY: `reclaimed` is NULL or writable for one `u32` (contract).
        let reclaimed = unsafe { Out::new(reclaimed) };
        let n = try_status!(table.reclaim_expired());
        if let Some(out) = reclaimed {
            out.write(n);
        }
        es_status::ES_OK
    })
}
