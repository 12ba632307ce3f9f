//! From C pointers to Rust values: NULL checks, out-parameters and keys.
//!
//! The `unsafe` conversions here only restate the contract that the
//! `# Safety` section of each `extern "C"` function asks of its C caller:
//! a pointer is NULL or valid for the access the function documents.

use super::backend::Backend;
use super::status::es_status;
use super::table::es_table;
use crate::KEY_MAX;
use std::ptr::NonNull;

/// A `&'static CStr` literal as a `*const c_char` (for the string getters).
macro_rules! cstr {
    ($s:expr) => {
        concat!($s, "\0").as_ptr().cast::<::std::ffi::c_char>()
    };
}

/// Unwraps `Some(v)`, or returns `ES_ERR_NULL` from the enclosing body.
macro_rules! try_null {
    ($opt:expr) => {
        match $opt {
            Some(v) => v,
            None => return $crate::ffi::status::es_status::ES_ERR_NULL,
        }
    };
}

/// Unwraps `Ok(v)`, or returns the error status from the enclosing body.
macro_rules! try_status {
    ($res:expr) => {
        match $res {
            Ok(v) => v,
            Err(status) => return $crate::ffi::status::es_status::from(status),
        }
    };
}

/// The table behind `t`, or `None` for NULL.
///
/// # Safety
/// `t` is NULL or came from `es_table_new` and was not freed, and it stays
/// alive while the returned reference is used (the caller's duty: a table is
/// not freed while calls on it run).
#[inline]
pub(crate) unsafe fn table_ref<'a>(t: *const es_table) -> Option<&'a Backend> {
    // SAFETY: guaranteed by the caller; `es_table` is only ever handed out
    // as a `Box<es_table>` pointer, so a non-NULL `t` is aligned and live.
    unsafe { t.as_ref() }.map(es_table::table)
}

/// An out-parameter: a place C gave us to write one `T` into, on success.
///
/// Holds a raw pointer rather than `&mut T`: C may pass the same address
/// for two out-parameters (harmless here, the later write wins) and the
/// memory may be uninitialised, so no Rust reference to it is ever formed.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// `None` for NULL.
    ///
    /// # Safety
    /// `p` is NULL or valid and aligned for a write of one `T` for the rest
    /// of the `extern "C"` call.
    #[inline]
    pub(crate) unsafe fn new(p: *mut T) -> Option<Out<T>> {
        NonNull::new(p).map(Out)
    }

    /// Writes the result (without reading or dropping the old contents).
    #[inline]
    pub(crate) fn write(self, value: T) {
        // SAFETY: `Out::new`'s caller guaranteed the pointer is valid and
        // aligned for one write of `T` during this call.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// The key `(key, key_len)` as a slice.
///
/// * `key_len == 0` or `key_len > 64`: `ES_ERR_INVALID`. A zero length is
///   invalid whatever `key` is (NULL included): no pointer could make an
///   empty key valid. An over-long key is rejected before anything is read.
/// * `key == NULL` with `1 <= key_len <= 64`: `ES_ERR_NULL`.
///
/// # Safety
/// `key` is NULL or valid for reads of `key_len` bytes (when
/// `1 <= key_len <= 64`) for the rest of the call.
#[inline]
pub(crate) unsafe fn key_slice<'a>(key: *const u8, key_len: usize) -> Result<&'a [u8], es_status> {
    if key_len == 0 {
        return Err(es_status::ES_ERR_INVALID);
    }
    if key.is_null() {
        return Err(es_status::ES_ERR_NULL);
    }
    if key_len > KEY_MAX {
        return Err(es_status::ES_ERR_INVALID);
    }
    // SAFETY: `key` is non-NULL and, by the caller, readable for `key_len`
    // (1..=64) bytes; `u8` has no alignment or validity requirement.
    Ok(unsafe { std::slice::from_raw_parts(key, key_len) })
}
