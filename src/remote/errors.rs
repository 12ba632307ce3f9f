//! From what the network and the server answer to [`Error`].
//!
//! Every failure to get an answer is `Io(errno)`, the errno saying why:
//!
//! | errno          | cause                                                        |
//! |----------------|--------------------------------------------------------------|
//! | `ETIMEDOUT`    | no answer within `timeout_ms`                                |
//! | `ECONNREFUSED` | nothing listens there                                        |
//! | `ECONNRESET`   | the connection broke                                         |
//! | `EACCES`       | wrong user or password, or the ACL forbids a command we need |
//! | `ENOTSUP`      | the server is older than 7.0 (no Redis Functions)            |
//! | `ENOSYS`       | `FCALL` or `FUNCTION` is disabled (e.g. `rename-command`)    |
//! | `EAGAIN`       | the server cannot serve now (loading, read-only replica, busy script) |
//! | `EHOSTUNREACH` | no Sentinel named a reachable primary                        |
//! | `EPROTO`       | an answer this client does not understand (another protocol major) |
//!
//! A table whose keys hold something else (garbage, another data format) is
//! `Corrupt`.

use crate::Error;
use redis::{ErrorKind, RedisError};

/// Whether the server said the function (library) is not loaded: a server
/// restarted without persistence, or one nobody loaded it into yet.
pub(crate) fn function_missing(e: &RedisError) -> bool {
    e.kind() == ErrorKind::ResponseError
        && e.detail().is_some_and(|d| d.contains("Function not found"))
        || e.to_string().contains("Function not found")
}

/// Whether the server does not know the command we sent.
pub(crate) fn unknown_command(e: &RedisError) -> bool {
    e.to_string().contains("unknown command")
}

/// Whether the connection was closed under us (reset, end of stream,
/// broken pipe).
pub(crate) fn dropped(e: &RedisError) -> bool {
    e.is_connection_dropped()
}

/// Whether the connection must not be used again after `e`.
pub(crate) fn breaks_connection(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            ErrorKind::ReadOnly
                | ErrorKind::MasterDown
                | ErrorKind::BusyLoadingError
                | ErrorKind::ParseError
                | ErrorKind::ClientError
                | ErrorKind::TypeError
        )
}

/// The [`Error`] for a failed call.
pub(crate) fn to_error(e: &RedisError) -> Error {
    if e.is_timeout() {
        return Error::Io(libc::ETIMEDOUT);
    }
    if e.is_connection_refusal() {
        return Error::Io(libc::ECONNREFUSED);
    }
    if e.is_connection_dropped() {
        return Error::Io(libc::ECONNRESET);
    }
    if e.is_io_error() {
        let errno = std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .and_then(std::io::Error::raw_os_error)
            .unwrap_or(libc::EIO);
        return Error::Io(errno);
    }
    let code = e.code().unwrap_or("");
    match (e.kind(), code) {
        (ErrorKind::AuthenticationFailed, _) => Error::Io(libc::EACCES),
        (_, "WRONGPASS" | "NOAUTH" | "NOPERM") => Error::Io(libc::EACCES),
        (_, "WRONGTYPE" | "ESCORRUPT") => Error::Corrupt,
        (ErrorKind::ReadOnly | ErrorKind::MasterDown | ErrorKind::BusyLoadingError, _) => {
            Error::Io(libc::EAGAIN)
        }
        (_, "BUSY" | "TRYAGAIN" | "CLUSTERDOWN") => Error::Io(libc::EAGAIN),
        _ if e.to_string().contains("WRONGPASS") || e.to_string().contains("NOAUTH") => {
            Error::Io(libc::EACCES)
        }
        _ => Error::Io(libc::EPROTO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: &str, detail: &str) -> RedisError {
        RedisError::from((ErrorKind::ExtensionError, "", format!("{code} {detail}")))
    }

    #[test]
    fn mapping() {
        let io = |k| RedisError::from(std::io::Error::from(k));
        assert_eq!(
            to_error(&io(std::io::ErrorKind::TimedOut)),
            Error::Io(libc::ETIMEDOUT)
        );
        assert_eq!(
            to_error(&io(std::io::ErrorKind::ConnectionRefused)),
            Error::Io(libc::ECONNREFUSED)
        );
        assert_eq!(
            to_error(&io(std::io::ErrorKind::UnexpectedEof)),
            Error::Io(libc::ECONNRESET)
        );
        let wrongpass = RedisError::from((ErrorKind::AuthenticationFailed, "auth"));
        assert_eq!(to_error(&wrongpass), Error::Io(libc::EACCES));
        assert!(to_error(&server("x", "y")).code() == -7);
    }
}
