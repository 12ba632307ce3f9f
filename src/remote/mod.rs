//! Remote tables: one table kept in a Redis server (7.0 or later), shared
//! by every process on every host that opens the same name there.
//!
//! The protocol lives on the server, in one Redis Functions library
//! (`redis/engine_slots.lua`, loaded by every client); each operation is one
//! `FCALL`, one atomic step. `docs/REMOTE.md` documents the keys, the
//! functions, the handles, sessions and the failure statuses.
//!
//! * `url` — the server URL (`redis://`, `rediss://`,
//!   `redis+sentinel://`, `?timeout_ms=`, `?session_ms=`, `?confirm=`) and
//!   table names;
//! * `conn` — a deadline-bounded connection pool, Sentinel resolution;
//! * `errors` — network and server failures as [`crate::Error`];
//! * `library` — the Lua library: calls, loading, version check;
//! * `reply` — the functions' replies;
//! * `handles` — the 64-bit handles of remote tables and their wire form;
//! * `nonce` — random session ids and generation nonces;
//! * `core` — what a table handle and its session thread share, and the
//!   one way to call the library (reload, recreate, the confirmed mode);
//! * `session` — the session heartbeat thread;
//! * `table` — [`RemoteTable`], the table API.

mod conn;
mod core;
mod errors;
mod handles;
mod library;
mod nonce;
mod reply;
mod session;
mod table;
mod url;

pub use table::RemoteTable;
pub use url::{DEFAULT_SESSION_MS, DEFAULT_TIMEOUT_MS, NAME_MAX};
