//! The error type of the Rust API.

use std::fmt;

/// Why an operation on a [`Table`](crate::Table) did not succeed.
///
/// Running out of capacity is *not* an error: [`Table::reserve`](crate::Table::reserve)
/// answers it with `Ok(None)`. Every variant maps one-to-one onto a status of
/// the C ABI (see [`Error::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// An argument is out of range: bad key length, capacity, or configuration.
    Invalid,
    /// No free engine slot or ticket slot is left.
    TableFull,
    /// An engine with that key is already registered.
    Exists,
    /// No engine with that key is registered.
    NotFound,
    /// The handle is not live in this table: finished, removed, reclaimed,
    /// reused, from another table, 0, or garbage.
    Stale,
    /// Opening, creating or mapping a shared table failed, or a remote
    /// table's server did not answer (see `remote` for each errno); carries
    /// `errno`.
    Io(i32),
    /// A shared table file is not a valid table.
    Corrupt,
}

impl Error {
    /// The C ABI status code (`es_status`) of this error.
    pub const fn code(self) -> i32 {
        match self {
            Error::Invalid => -2,
            Error::TableFull => -3,
            Error::Exists => -4,
            Error::NotFound => -5,
            Error::Stale => -6,
            Error::Io(_) => -7,
            Error::Corrupt => -8,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid => f.write_str("invalid argument"),
            Error::TableFull => f.write_str("no free engine or ticket slot"),
            Error::Exists => f.write_str("engine key already registered"),
            Error::NotFound => f.write_str("no engine with that key"),
            Error::Stale => f.write_str("stale or foreign handle"),
            Error::Io(errno) => write!(f, "I/O error of a shared or remote table (errno {errno})"),
            Error::Corrupt => f.write_str("shared table file is corrupt"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for `Result<T, engine_slots::Error>`.
pub type Result<T> = std::result::Result<T, Error>;
