//! The C ABI: `include/engine_slots.h`, generated from this module by
//! cbindgen (see `cbindgen.toml` and `tests/header_fresh.rs`).
//!
//! A thin layer over the Rust API ([`crate::Table`]); it owns no protocol.
//! Each file holds one part of the surface:
//!
//! * `panic` — the one panic boundary every `extern "C"` function runs in;
//! * `ptr` — C pointers into Rust references: NULL checks, out-parameters,
//!   keys;
//! * [`status`] — `es_status`, its mapping from [`crate::Error`],
//!   `es_status_str`;
//! * [`types`] — the plain C types: handles, `es_config`, `es_policy`,
//!   `es_engine_stats`, `es_ticket_counts`;
//! * [`table`] — the opaque `es_table`: create, free, inspect its config;
//! * [`shared`] — shared tables: open/create a table in a file, unlink it;
//! * [`remote`] — remote tables: open/create a table kept in Redis, unlink it;
//! * `backend` — what an `es_table` holds (local or remote) and the dispatch;
//! * [`engine`] — registering engines and changing their settings;
//! * [`ticket`] — reserving, finishing and reclaiming tickets;
//! * [`stats`] — read-only views;
//! * [`version`] — `es_version`.
//!
//! Conventions of every function: a status is returned, out-parameters are
//! written only on success (`ES_OK`), every pointer is checked for NULL
//! first, and no panic crosses the boundary (it becomes `ES_ERR_INTERNAL`).
//! Handles are plain `uint64_t` values and are checked by the core, so any
//! value, even garbage, is defined: it is `ES_ERR_STALE`.
//!
//! Names follow C (`es_table`, `ES_OK`), not Rust, because they *are* the C
//! names: cbindgen copies them into the header verbatim.
#![allow(non_camel_case_types)]

#[macro_use]
mod ptr;

mod panic;

// The order of these declarations is the order of the header: cbindgen
// emits items as it parses them. (Blank lines keep rustfmt from sorting.)
pub mod status;

pub mod version;

pub mod types;

pub mod table;

#[cfg(not(loom))]
pub mod shared;

#[cfg(not(loom))]
pub mod remote;

mod backend;

pub mod engine;

pub mod ticket;

pub mod stats;

pub use engine::*;
#[cfg(not(loom))]
pub use remote::*;
#[cfg(not(loom))]
pub use shared::*;
pub use stats::*;
pub use status::*;
pub use table::*;
pub use ticket::*;
pub use types::*;
pub use version::*;

#[cfg(all(test, not(loom)))]
mod tests {
    /// Every `extern "C"` function's body is one call of the panic boundary
    /// (`guard(|| ...)`): a new function, in any file of this module,
    /// cannot forget it.
    #[test]
    fn every_extern_fn_runs_inside_the_panic_boundary() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ffi");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("src/ffi is readable") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let src = std::fs::read_to_string(&path).expect("a readable source file");
            for (at, _) in src.match_indices("extern \"C\" fn ") {
                let rest = &src[at..];
                let sig = &rest[..rest.find(" {\n").expect("a body")];
                let first = rest[sig.len() + 3..].lines().next().unwrap_or("").trim();
                assert!(
                    first.starts_with("guard(||"),
                    "{}: `{sig}` must start its body with `guard(|| ...)`, found `{first}`",
                    path.display()
                );
                seen += 1;
            }
        }
        // At least the 24 functions of the first C ABI: es_status_str,
        // es_version, 3 table, 9 engine, 7 ticket and 3 stats functions.
        assert!(seen >= 24, "found only {seen} extern \"C\" functions");
    }
}
