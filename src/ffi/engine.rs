//! Registering engines and changing their settings.
//!
//! Every function taking an `es_engine` answers `ES_ERR_STALE` for a handle
//! that is not a live engine of this table (removed, 0, from another table,
//! garbage) and then changes nothing.

use super::backend::es_table;
use super::panic::guard;
use super::ptr::{key_slice, table_ref, Out};
use super::status::es_status;
use super::types::es_engine;
use crate::{Engine, EngineSpec};

/// Registers an engine under the key `(key, key_len)` (1 to `ES_KEY_MAX`
/// bytes of any value) with room for `capacity` streams (1 to 2047; 0 means
/// the table's `default_capacity`), and stores its handle in `*out`.
///
/// Returns `ES_ERR_NULL` if `t` or `out` is NULL, or `key` is NULL with
/// `key_len > 0`; `ES_ERR_INVALID` for `key_len` 0 (even with a NULL
/// `key`) or above `ES_KEY_MAX`, or a capacity above 2047;
/// `ES_ERR_EXISTS` if the key is registered; `ES_ERR_TABLE_FULL` if no
/// engine slot is free.
///
/// # Safety
/// `t` is NULL or a live table; `key` is NULL or readable for `key_len`
/// bytes; `out` is NULL or points to a writable `es_engine`.
#[no_mangle]
pub unsafe extern "C" fn es_engine_add(
    t: *mut es_table,
    key: *const u8,
    key_len: usize,
    capacity: u32,
    out: *mut es_engine,
) -> es_status {
    guard(|| {
        let spec = EngineSpec {
            capacity,
            ..EngineSpec::default()
        };
        // SAFETY: forwarded under this function's own contract.
        unsafe { add(t, key, key_len, &spec, out) }
    })
}

/// The one body of `es_engine_add` and `es_engine_add_ex`.
///
/// # Safety
/// As for `es_engine_add`.
unsafe fn add(
    t: *mut es_table,
    key: *const u8,
    key_len: usize,
    spec: &EngineSpec,
    out: *mut es_engine,
) -> es_status {
    // SAFETY: `t` is NULL or a live table (contract).
    let table = try_null!(unsafe { table_ref(t) });
    // SAFETY: `out` is NULL or writable for one `es_engine` (contract).
    let out = try_null!(unsafe { Out::new(out) });
    // SAFETY: `key` is NULL or readable for `key_len` bytes (contract).
    let key = try_status!(unsafe { key_slice(key, key_len) });
    out.write(try_status!(table.add_engine_with(key, spec)).raw());
    es_status::ES_OK
}

/// Extension (not in the product contract): the settings an engine starts
/// with, for `es_engine_add_ex`.
///
/// The flags are bytes (0 = false, anything else = true) so that any value
/// C leaves in them is defined.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct es_engine_spec {
    /// Most streams at once, 1 to 2047; 0 means the table's
    /// `default_capacity`.
    pub capacity: u32,
    /// Selection priority (higher wins ties on load).
    pub priority: i32,
    /// Streams on the engine that this table does not own.
    pub external: u32,
    /// Nonzero: healthy (the usual case). Zero: unhealthy (still admissible,
    /// chosen last).
    pub healthy: u8,
    /// Nonzero: added draining (admits nothing until `es_engine_undrain`).
    pub draining: u8,
    /// The caller's own word for the engine (see `es_engine_set_user`).
    pub user: u64,
}

impl From<&es_engine_spec> for EngineSpec {
    fn from(s: &es_engine_spec) -> EngineSpec {
        EngineSpec {
            capacity: s.capacity,
            healthy: s.healthy != 0,
            priority: s.priority,
            external: s.external,
            draining: s.draining != 0,
            user: s.user,
        }
    }
}

/// Extension (not in the product contract): registers an engine like
/// `es_engine_add`, with all of `*spec` in place from the first instant
/// (no reservation ever sees it with other settings: an orchestrator's
/// external load, say, counts at once).
///
/// Returns what `es_engine_add` returns, and `ES_ERR_NULL` if `spec` is
/// NULL.
///
/// # Safety
/// As for `es_engine_add`; `spec` is NULL or points to a readable
/// `es_engine_spec`.
#[no_mangle]
pub unsafe extern "C" fn es_engine_add_ex(
    t: *mut es_table,
    key: *const u8,
    key_len: usize,
    spec: *const es_engine_spec,
    out: *mut es_engine,
) -> es_status {
    guard(|| {
        // SAFETY: `spec` is NULL or readable (contract); every bit pattern
        // is a valid `es_engine_spec` (integers and bytes only).
        let spec = EngineSpec::from(try_null!(unsafe { spec.as_ref() }));
        // SAFETY: forwarded under this function's own contract.
        unsafe { add(t, key, key_len, &spec, out) }
    })
}

/// Extension: the engine registered under `(key, key_len)`, registering it
/// with `*spec` (NULL: the defaults of `es_engine_add` with capacity 0) if
/// there is none. Stores the handle in `*out`, and in `*created` (if not
/// NULL) whether this call added it. One step: concurrent callers with the
/// same key all get the same engine, and exactly one of them `created`.
///
/// Returns what `es_engine_add_ex` returns, never `ES_ERR_EXISTS`.
///
/// # Safety
/// As for `es_engine_add_ex`; `created` is NULL or points to a writable
/// `bool`.
#[no_mangle]
pub unsafe extern "C" fn es_engine_add_or_find(
    t: *mut es_table,
    key: *const u8,
    key_len: usize,
    spec: *const es_engine_spec,
    out: *mut es_engine,
    created: *mut bool,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        // SAFETY: `out` is NULL or writable for one `es_engine` (contract).
        let out = try_null!(unsafe { Out::new(out) });
        // SAFETY: `created` is NULL or writable for one `bool` (contract).
        let created = unsafe { Out::new(created) };
        // SAFETY: `key` is NULL or readable for `key_len` bytes (contract).
        let key = try_status!(unsafe { key_slice(key, key_len) });
        // SAFETY: `spec` is NULL or readable (contract); every bit pattern
        // is a valid `es_engine_spec` (integers and bytes only).
        let spec = unsafe { spec.as_ref() }.map_or_else(EngineSpec::default, EngineSpec::from);
        let (e, added) = try_status!(table.add_or_find(key, &spec));
        out.write(e.raw());
        if let Some(created) = created {
            created.write(added);
        }
        es_status::ES_OK
    })
}

/// Extension: sets the caller's own 64-bit word for engine `e` (an address,
/// an index into the caller's tables). The table stores it (a shared
/// table's other processes see it too) and reports it in
/// `es_engine_stats.user`; admission never reads it.
///
/// Returns `ES_ERR_NULL` if `t` is NULL, `ES_ERR_STALE` if `e` is not a
/// live engine.
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_engine_set_user(
    t: *mut es_table,
    e: es_engine,
    user: u64,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        try_status!(table.set_user(Engine::from_raw(e), user));
        es_status::ES_OK
    })
}

/// Looks up the engine registered under `(key, key_len)` and stores its
/// handle in `*out`.
///
/// Returns `ES_ERR_NULL` and `ES_ERR_INVALID` as `es_engine_add` does, and
/// `ES_ERR_NOT_FOUND` if no engine has that key.
///
/// # Safety
/// As for `es_engine_add`.
#[no_mangle]
pub unsafe extern "C" fn es_engine_find(
    t: *const es_table,
    key: *const u8,
    key_len: usize,
    out: *mut es_engine,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        // SAFETY: `out` is NULL or writable for one `es_engine` (contract).
        let out = try_null!(unsafe { Out::new(out) });
        // SAFETY: `key` is NULL or readable for `key_len` bytes (contract).
        let key = try_status!(unsafe { key_slice(key, key_len) });
        out.write(try_status!(table.find_engine(key)).raw());
        es_status::ES_OK
    })
}

/// Sets how many streams the engine admits, 1 to 2047 (else
/// `ES_ERR_INVALID`). Lowering it below the current load revokes nothing;
/// it only stops new admissions.
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_engine_set_capacity(
    t: *mut es_table,
    e: es_engine,
    capacity: u32,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.set_capacity(Engine::from_raw(e), capacity).into()
    })
}

/// Marks the engine healthy or not. An unhealthy engine is still
/// admissible; `es_reserve` prefers healthy ones.
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_engine_set_healthy(
    t: *mut es_table,
    e: es_engine,
    healthy: bool,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.set_healthy(Engine::from_raw(e), healthy).into()
    })
}

/// Sets the engine's priority; among engines of equal relative load the
/// higher priority wins.
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_engine_set_priority(
    t: *mut es_table,
    e: es_engine,
    priority: i32,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.set_priority(Engine::from_raw(e), priority).into()
    })
}

/// Sets the number of streams on the engine that this table does not own
/// (reported by an orchestrator). They count toward admission; any value is
/// accepted (above 2047 no capacity admits anything more).
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_engine_set_external(
    t: *mut es_table,
    e: es_engine,
    streams: u32,
) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.set_external(Engine::from_raw(e), streams).into()
    })
}

/// Stops new admissions on the engine (`es_reserve_on` it answers
/// `ES_NO_CAPACITY`); its tickets finish normally. Draining twice is `ES_OK`.
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_engine_drain(t: *mut es_table, e: es_engine) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.drain(Engine::from_raw(e)).into()
    })
}

/// Extension (not in the product contract): undoes `es_engine_drain`, so
/// the engine admits again. `ES_OK` also on an engine that is not draining.
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_engine_undrain(t: *mut es_table, e: es_engine) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.undrain(Engine::from_raw(e)).into()
    })
}

/// Removes the engine and frees its slot at once; `e` is stale from now on.
/// Its tickets stay valid handles that can only be finished: `es_commit`
/// answers `ES_ERR_STALE` (and finishes the ticket), `es_cancel` of a
/// pending and `es_release` of an active ticket answer `ES_OK`, and none of
/// them touches whatever engine takes the slot next.
///
/// # Safety
/// `t` is NULL or a live table.
#[no_mangle]
pub unsafe extern "C" fn es_engine_remove(t: *mut es_table, e: es_engine) -> es_status {
    guard(|| {
        // SAFETY: `t` is NULL or a live table (contract).
        let table = try_null!(unsafe { table_ref(t) });
        table.remove_engine(Engine::from_raw(e)).into()
    })
}
