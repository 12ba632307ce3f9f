//! `es_status`: what every C function answers, and its names.

use super::panic::{guard, OnPanic};
use crate::Error;
use std::ffi::c_char;

/// The result of a C API call. `ES_OK` and `ES_NO_CAPACITY` are answers;
/// every negative value is an error. Values are fixed and never reused.
///
/// A Rust function only ever returns one of these values; a C caller may
/// hold any `int32_t` in an `es_status` (so `es_status_str` takes any).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum es_status {
    /// Success.
    ES_OK = 0,
    /// No engine has room (or the one asked for is full or draining): an
    /// answer, not a fault.
    ES_NO_CAPACITY = 1,
    /// A required pointer argument is NULL.
    ES_ERR_NULL = -1,
    /// An argument is out of range: bad key length, capacity or config.
    ES_ERR_INVALID = -2,
    /// No free engine slot or ticket slot.
    ES_ERR_TABLE_FULL = -3,
    /// The key is already registered.
    ES_ERR_EXISTS = -4,
    /// No engine with that key.
    ES_ERR_NOT_FOUND = -5,
    /// Not a live handle of this table: finished, removed, reclaimed,
    /// reused, 0, from another table, or garbage.
    ES_ERR_STALE = -6,
    /// Opening, creating or mapping a shared table failed, or a remote
    /// table's server did not answer in time (`errno` is kept).
    ES_ERR_IO = -7,
    /// A shared table file is not a valid table.
    ES_ERR_CORRUPT = -8,
    /// A bug in engine-slots: a panic was caught at the boundary.
    ES_ERR_INTERNAL = -100,
}

impl From<Error> for es_status {
    /// The status of a Rust API error. For [`Error::Io`] the error's `errno`
    /// is also stored in the calling thread's `errno`, as the contract of
    /// `ES_ERR_IO` promises.
    fn from(e: Error) -> es_status {
        match e {
            Error::Invalid => es_status::ES_ERR_INVALID,
            Error::TableFull => es_status::ES_ERR_TABLE_FULL,
            Error::Exists => es_status::ES_ERR_EXISTS,
            Error::NotFound => es_status::ES_ERR_NOT_FOUND,
            Error::Stale => es_status::ES_ERR_STALE,
            Error::Io(errno) => {
                set_errno(errno);
                es_status::ES_ERR_IO
            }
            Error::Corrupt => es_status::ES_ERR_CORRUPT,
        }
    }
}

impl From<crate::Result<()>> for es_status {
    /// `ES_OK` is one compare; the error mapping is out of line
    /// (`es_status::from_error`), so the success path of commit, cancel,
    /// release and touch is not a jump table with a frame for `errno`.
    #[inline(always)]
    fn from(r: crate::Result<()>) -> es_status {
        match r {
            Ok(()) => es_status::ES_OK,
            Err(e) => es_status::from_error(e),
        }
    }
}

impl es_status {
    /// The status of an error, out of line: errors are the cold path of
    /// every hot call.
    #[cold]
    #[inline(never)]
    pub(crate) fn from_error(e: Error) -> es_status {
        e.into()
    }
}

/// Stores `errno` for the calling thread (where the platform lets us).
fn set_errno(errno: i32) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: `__errno_location` returns the calling thread's errno slot,
    // valid for writes for the thread's lifetime.
    unsafe {
        *libc::__errno_location() = errno;
    }
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    // SAFETY: as above, `__error` is the thread's errno slot.
    unsafe {
        *libc::__error() = errno;
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd"
    )))]
    let _ = errno;
}

impl es_status {
    /// Every status, in declaration order.
    pub const ALL: [es_status; 11] = [
        es_status::ES_OK,
        es_status::ES_NO_CAPACITY,
        es_status::ES_ERR_NULL,
        es_status::ES_ERR_INVALID,
        es_status::ES_ERR_TABLE_FULL,
        es_status::ES_ERR_EXISTS,
        es_status::ES_ERR_NOT_FOUND,
        es_status::ES_ERR_STALE,
        es_status::ES_ERR_IO,
        es_status::ES_ERR_CORRUPT,
        es_status::ES_ERR_INTERNAL,
    ];

    /// The status whose C value is `v`, if there is one.
    pub fn from_raw(v: i32) -> Option<es_status> {
        es_status::ALL.into_iter().find(|s| *s as i32 == v)
    }

    /// A static NUL-terminated description.
    fn describe(self) -> *const c_char {
        match self {
            es_status::ES_OK => cstr!("ok"),
            es_status::ES_NO_CAPACITY => cstr!("no engine has room"),
            es_status::ES_ERR_NULL => cstr!("a required pointer argument is NULL"),
            es_status::ES_ERR_INVALID => cstr!("invalid argument (range, key length or config)"),
            es_status::ES_ERR_TABLE_FULL => cstr!("no free engine slot or ticket slot"),
            es_status::ES_ERR_EXISTS => cstr!("engine key already registered"),
            es_status::ES_ERR_NOT_FOUND => cstr!("no engine with that key"),
            es_status::ES_ERR_STALE => cstr!("stale or foreign handle"),
            es_status::ES_ERR_IO => {
                cstr!("I/O error: shared table file or remote server (see errno)")
            }
            es_status::ES_ERR_CORRUPT => cstr!("shared table file is corrupt"),
            es_status::ES_ERR_INTERNAL => cstr!("internal error (a panic was caught)"),
        }
    }
}

/// A static, human-readable description of status `s`; never NULL.
///
/// Takes any `int32_t`, not only the values of `es_status` (in C,
/// `es_status` is an `int32_t`): an unknown value gives `"unknown status"`.
/// The string must not be freed.
#[no_mangle]
pub extern "C" fn es_status_str(s: i32) -> *const c_char {
    guard(|| match es_status::from_raw(s) {
        Some(status) => status.describe(),
        None => cstr!("unknown status"),
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn codes_match_the_core() {
        for e in [
            Error::Invalid,
            Error::TableFull,
            Error::Exists,
            Error::NotFound,
            Error::Stale,
            Error::Io(2),
            Error::Corrupt,
        ] {
            assert_eq!(es_status::from(e) as i32, e.code(), "{e:?}");
        }
    }

    #[test]
    fn io_keeps_errno() {
        let _ = es_status::from(Error::Io(libc::ENOSPC));
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOSPC)
        );
    }

    #[test]
    fn every_status_has_a_distinct_string() {
        let all = es_status::ALL.map(|s| s as i32);
        assert_eq!(all, [0, 1, -1, -2, -3, -4, -5, -6, -7, -8, -100]);
        let strs: Vec<&CStr> = all
            .iter()
            // SAFETY: `es_status_str` returns a static NUL-terminated string.
            .map(|&s| unsafe { CStr::from_ptr(es_status_str(s)) })
            .collect();
        for (i, a) in strs.iter().enumerate() {
            assert!(!a.to_bytes().is_empty());
            assert!(strs[i + 1..].iter().all(|b| a != b), "{a:?} repeated");
        }
        for unknown in [2, -9, -99, 12345, i32::MIN, i32::MAX] {
            // SAFETY: as above.
            let s = unsafe { CStr::from_ptr(es_status_str(unknown)) };
            assert_eq!(s.to_bytes(), b"unknown status");
        }
    }
}
/// A panic caught at the boundary is reported as `ES_ERR_INTERNAL`.
impl OnPanic for es_status {
    fn on_panic() -> es_status {
        es_status::ES_ERR_INTERNAL
    }
}
