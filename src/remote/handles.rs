//! Remote handles: the 64-bit `Engine` / `Ticket` values of a remote table
//! and the 16-hex-digit strings the protocol carries.
//!
//! | bits 60..64      | 20..60                  | 0..20      |
//! |------------------|-------------------------|------------|
//! | kind: `0xE` engine, `0xA` ticket | generation (40 bits, random, never 0) | slot index |
//!
//! The server draws each generation from the caller's nonce and its own
//! clock, so a handle is unique even when the server lost recent writes (a
//! failover, a restart): a handle it never saw, or one it already finished,
//! is stale. A handle of another kind (an in-process table's handle, say)
//! is stale here without a round trip.

use crate::{Engine, Error, Result, Ticket};

const KIND_SHIFT: u32 = 60;
const ENGINE_KIND: u64 = 0xE;
const TICKET_KIND: u64 = 0xA;
const GEN_MASK: u64 = ((1 << 40) - 1) << 20;

fn hex_of(raw: u64, kind: u64) -> Option<String> {
    (raw >> KIND_SHIFT == kind && raw & GEN_MASK != 0).then(|| format!("{raw:016x}"))
}

/// The protocol form of an engine handle, or `None` (stale) when it cannot
/// be one of a remote table.
pub(crate) fn engine_hex(e: Engine) -> Option<String> {
    hex_of(e.raw(), ENGINE_KIND)
}

/// The protocol form of a ticket handle, or `None` (stale).
pub(crate) fn ticket_hex(t: Ticket) -> Option<String> {
    hex_of(t.raw(), TICKET_KIND)
}

fn parse(s: &[u8], kind: u64) -> Result<u64> {
    let bad = Error::Io(libc::EPROTO);
    if s.len() != 16 {
        return Err(bad);
    }
    let s = std::str::from_utf8(s).map_err(|_| bad)?;
    let raw = u64::from_str_radix(s, 16).map_err(|_| bad)?;
    if raw >> KIND_SHIFT != kind || raw & GEN_MASK == 0 {
        return Err(bad);
    }
    Ok(raw)
}

/// An engine handle the server sent (`EPROTO` if it is not one).
pub(crate) fn parse_engine(s: &[u8]) -> Result<Engine> {
    parse(s, ENGINE_KIND).map(Engine::from_raw)
}

/// A ticket handle the server sent (`EPROTO` if it is not one).
pub(crate) fn parse_ticket(s: &[u8]) -> Result<Ticket> {
    parse(s, TICKET_KIND).map(Ticket::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refusals() {
        let e = parse_engine(b"e9c122d66e900003").unwrap();
        assert_eq!(engine_hex(e).as_deref(), Some("e9c122d66e900003"));
        assert_eq!(ticket_hex(Ticket::from_raw(e.raw())), None, "not a ticket");
        let t = parse_ticket(b"a99cba2f9d9fffff").unwrap();
        assert_eq!(ticket_hex(t).as_deref(), Some("a99cba2f9d9fffff"));
        for raw in [0, 1, u64::MAX, 0x0E5E_0001_0002_0003, 0xE000_0000_000F_FFFF] {
            assert_eq!(engine_hex(Engine::from_raw(raw)), None, "{raw:x}");
            assert_eq!(ticket_hex(Ticket::from_raw(raw)), None, "{raw:x}");
        }
        for bad in [
            &b"e9c122d66e90000"[..],
            b"e9c122d66e90000g",
            b"a000000000000001",
            b"",
        ] {
            assert!(parse_engine(bad).is_err());
        }
    }
}
