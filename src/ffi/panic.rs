//! The panic boundary: no Rust panic ever unwinds into C.
//!
//! Every `extern "C"` function of the crate runs its whole body inside
//! [`guard`], which turns a panic into the function's "internal error"
//! value ([`OnPanic`]). A panic is a bug in engine-slots: the table stays
//! memory-safe (all its state is atomics, and the control lock is released
//! by its guard during unwinding), at worst a ticket slot is lost.
//!
//! On the success path `catch_unwind` costs no allocation and no system
//! call, so the boundary is fine on the reserve/commit/release path.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What an `extern "C"` function returns when its body panicked.
pub trait OnPanic {
    /// The neutral or error value handed to C instead of unwinding.
    fn on_panic() -> Self;
}

impl OnPanic for () {
    fn on_panic() {}
}

/// String getters never return NULL, not even after a panic.
impl OnPanic for *const c_char {
    fn on_panic() -> *const c_char {
        cstr!("internal error (a panic was caught)")
    }
}

/// Runs `body`, returning [`OnPanic::on_panic`] if it panics.
///
/// `AssertUnwindSafe` is sound here: after a caught panic the caller gets
/// `ES_ERR_INTERNAL` (or a neutral value) and every piece of state `body`
/// could have touched is a table of atomics that is consistent word by word
/// (see the module docs); nothing half-updated is observed through a broken
/// Rust invariant.
#[inline]
pub fn guard<R: OnPanic>(body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| R::on_panic())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::ffi::CStr;

    /// A status-like type of the test's own (the real one, `es_status`,
    /// implements [`OnPanic`] in its own module).
    #[derive(Debug, PartialEq)]
    enum Status {
        Ok,
        Internal,
    }
    impl OnPanic for Status {
        fn on_panic() -> Status {
            Status::Internal
        }
    }

    #[test]
    fn panics_become_values() {
        // The default hook prints these messages; silencing it would be
        // process-wide and could hide another test's failure.
        const MSG: &str = "deliberate panic, testing the FFI panic boundary";
        let s: Status = guard(|| panic!("{MSG}"));
        assert_eq!(s, Status::Internal);
        guard(|| -> () { panic!("{MSG}") });
        let p: *const c_char = guard(|| panic!("{MSG}"));
        assert!(!p.is_null());
        // SAFETY: `on_panic` returns a NUL-terminated static string.
        assert!(unsafe { CStr::from_ptr(p) }
            .to_bytes()
            .starts_with(b"internal error"));
        assert_eq!(guard(|| Status::Ok), Status::Ok);
    }
}
