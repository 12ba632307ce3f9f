//! The replies of the library's functions: an array whose first element is
//! a status, payload after it.

use crate::{Error, Result};
use redis::Value;

/// Success.
pub(crate) const OK: i64 = 0;
/// No engine has room (an answer, not an error).
pub(crate) const NO_CAPACITY: i64 = 1;
/// The table does not exist (never created, unlinked, or lost with a
/// server that restarted without persistence).
pub(crate) const NO_TABLE: i64 = 100;

/// `EPROTO`: an answer this client does not understand.
pub(crate) const fn garbled() -> Error {
    Error::Io(libc::EPROTO)
}

/// A reply of one of the library's functions.
#[derive(Debug)]
pub(crate) struct Reply(Vec<Value>);

impl Reply {
    pub(crate) fn parse(v: Value) -> Result<Reply> {
        match v {
            Value::Array(items) if matches!(items.first(), Some(Value::Int(_))) => Ok(Reply(items)),
            _ => Err(garbled()),
        }
    }

    pub(crate) fn status(&self) -> i64 {
        match self.0.first() {
            Some(Value::Int(s)) => *s,
            _ => i64::MIN,
        }
    }

    /// `Ok(())` for `OK`, the matching error for an error status.
    pub(crate) fn check(&self) -> Result<()> {
        match self.status() {
            OK => Ok(()),
            s => Err(status_error(s)),
        }
    }

    /// Payload item `i` (1-based, as in Lua).
    pub(crate) fn item(&self, i: usize) -> Result<&Value> {
        self.0.get(i).ok_or(garbled())
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn int(&self, i: usize) -> Result<i64> {
        int(self.item(i)?)
    }

    pub(crate) fn bytes(&self, i: usize) -> Result<&[u8]> {
        bytes(self.item(i)?)
    }
}

/// The error of a non-OK status.
pub(crate) fn status_error(s: i64) -> Error {
    match s {
        -2 => Error::Invalid,
        -3 => Error::TableFull,
        -4 => Error::Exists,
        -5 => Error::NotFound,
        -6 => Error::Stale,
        -8 => Error::Corrupt,
        _ => garbled(),
    }
}

pub(crate) fn int(v: &Value) -> Result<i64> {
    match v {
        Value::Int(n) => Ok(*n),
        _ => Err(garbled()),
    }
}

pub(crate) fn bytes(v: &Value) -> Result<&[u8]> {
    match v {
        Value::BulkString(b) => Ok(b),
        _ => Err(garbled()),
    }
}

/// An integer reply item that must fit `T`.
pub(crate) fn int_as<T: TryFrom<i64>>(v: &Value) -> Result<T> {
    T::try_from(int(v)?).map_err(|_| garbled())
}
