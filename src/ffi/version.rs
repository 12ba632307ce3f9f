//! `es_version`: which library the caller linked.

use super::panic::guard;
use std::ffi::c_char;

/// The library version as a static string, e.g. `"0.1.0"`; never NULL and
/// must not be freed.
#[no_mangle]
pub extern "C" fn es_version() -> *const c_char {
    guard(|| cstr!(env!("CARGO_PKG_VERSION")))
}

#[cfg(all(test, not(loom)))]
mod tests {
    #[test]
    fn matches_the_crate() {
        // SAFETY: `es_version` returns a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(super::es_version()) };
        assert_eq!(v.to_str(), Ok(crate::VERSION));
    }
}
