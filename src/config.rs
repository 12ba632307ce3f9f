//! Table configuration and its validation.

use crate::bits::engine_word::MAX_CAPACITY;
use crate::bits::handle::{MAX_ENGINES, MAX_TICKETS};
use crate::error::{Error, Result};

/// How [`Table::reserve`](crate::Table::reserve) picks an engine.
#[repr(u32)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Healthy first, then the lowest load relative to capacity, then the
    /// higher priority, then the engine whose last reservation is oldest,
    /// then any of the engines still equal (each thread's scan starts at a
    /// random slot, so concurrent reservers spread over them).
    #[default]
    LeastLoaded = 0,
    /// Healthy first, then the fullest engine that still has room (so idle
    /// engines drain and can be scaled down), then priority, then lowest slot.
    FillFirst = 1,
    /// Two random engines with room; the less loaded one wins. Costs O(1)
    /// in the table size while engines with room are common.
    TwoChoices = 2,
}

impl Policy {
    /// The policy with C ABI value `v`, if there is one.
    pub const fn from_u32(v: u32) -> Option<Policy> {
        match v {
            0 => Some(Policy::LeastLoaded),
            1 => Some(Policy::FillFirst),
            2 => Some(Policy::TwoChoices),
            _ => None,
        }
    }
}

/// Longest lease the table can express: leases above it (up to `u32::MAX`
/// milliseconds) are capped to it, about 24.8 days. Ticket deadlines compare
/// with wrapping 32-bit arithmetic, exact below 2^31 ms; the hour kept free
/// absorbs the coarse clock's rounding of lease starts.
pub const MAX_LEASE_MS: u32 = (1 << 31) - 1 - 3_600_000;

/// The fixed shape and behaviour of a table, chosen at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// Engine slots, `1..=65535`.
    pub max_engines: u32,
    /// Ticket slots (concurrent reservations plus streams), `1..=1048576`.
    pub max_tickets: u32,
    /// Capacity used when an engine is added with capacity 0, `1..=2047`.
    pub default_capacity: u32,
    /// A reservation not committed within this many milliseconds is
    /// reclaimed; 0 = never.
    pub pending_lease_ms: u32,
    /// A committed stream neither touched nor released within this many
    /// milliseconds is reclaimed; 0 = never.
    pub active_lease_ms: u32,
    /// Selection policy of [`Table::reserve`](crate::Table::reserve).
    pub policy: Policy,
}

impl Default for Config {
    /// 1024 engines, 16384 tickets, capacity 1, leases of 30 s (pending)
    /// and none (active), least-loaded selection: room for a real
    /// deployment (hundreds of engines, thousands of streams) in about
    /// 1.4 MiB ([`Table::memory_size`](crate::Table::memory_size)). The one
    /// definition of the defaults: C reads it with `es_config_default`,
    /// C++ and Go through that.
    fn default() -> Config {
        Config {
            max_engines: 1024,
            max_tickets: 16384,
            default_capacity: 1,
            pending_lease_ms: 30_000,
            active_lease_ms: 0,
            policy: Policy::LeastLoaded,
        }
    }
}

/// The configuration in fixed-width fields: the one struct the C ABI passes
/// (`es_config` in `engine_slots.h`) and a shared table's header stores.
/// Any bit pattern is a value of it; [`Config::try_from`] validates.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct es_config {
    /// Engine slots, 1 to 65535.
    pub max_engines: u32,
    /// Ticket slots (concurrent reservations plus live streams),
    /// 1 to 1048576.
    pub max_tickets: u32,
    /// Capacity used when `es_engine_add` gets capacity 0, 1 to 2047.
    pub default_capacity: u32,
    /// A reservation not committed within this many milliseconds is
    /// reclaimed; 0 = never expires. Values above `MAX_LEASE_MS`
    /// (2^31 - 1 ms less one hour, about 24.8 days) are capped to it.
    pub pending_lease_ms: u32,
    /// A committed stream neither touched nor released within this many
    /// milliseconds is reclaimed; 0 = never expires. Capped like
    /// `pending_lease_ms`.
    pub active_lease_ms: u32,
    /// One of `es_policy`. Held as a plain `uint32_t` (which is what
    /// `es_policy` is in C) so that any value C stores here is defined: an
    /// unknown one is `ES_ERR_INVALID`.
    pub policy: u32,
}

impl TryFrom<es_config> for Config {
    type Error = Error;

    /// Checks the policy value and every range ([`Config::validate`]).
    fn try_from(c: es_config) -> Result<Config> {
        let config = Config {
            max_engines: c.max_engines,
            max_tickets: c.max_tickets,
            default_capacity: c.default_capacity,
            pending_lease_ms: c.pending_lease_ms,
            active_lease_ms: c.active_lease_ms,
            policy: Policy::from_u32(c.policy).ok_or(Error::Invalid)?,
        };
        config.validate()?;
        Ok(config)
    }
}

impl From<&Config> for es_config {
    fn from(c: &Config) -> es_config {
        es_config {
            max_engines: c.max_engines,
            max_tickets: c.max_tickets,
            default_capacity: c.default_capacity,
            pending_lease_ms: c.pending_lease_ms,
            active_lease_ms: c.active_lease_ms,
            policy: c.policy as u32,
        }
    }
}

impl Config {
    /// `Ok` if every field is in range, else [`Error::Invalid`].
    pub fn validate(&self) -> Result<()> {
        let ok = (1..=MAX_ENGINES).contains(&self.max_engines)
            && (1..=MAX_TICKETS).contains(&self.max_tickets)
            && (1..=MAX_CAPACITY).contains(&self.default_capacity);
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid)
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let good = Config::default();
        assert_eq!(good.validate(), Ok(()));
        let bad = [
            Config {
                max_engines: 0,
                ..good
            },
            Config {
                max_engines: 65_536,
                ..good
            },
            Config {
                max_tickets: 0,
                ..good
            },
            Config {
                max_tickets: MAX_TICKETS + 1,
                ..good
            },
            Config {
                default_capacity: 0,
                ..good
            },
            Config {
                default_capacity: MAX_CAPACITY + 1,
                ..good
            },
        ];
        for b in bad {
            assert_eq!(b.validate(), Err(Error::Invalid), "{b:?}");
        }
        let edge = Config {
            max_engines: 65_535,
            max_tickets: MAX_TICKETS,
            default_capacity: MAX_CAPACITY,
            ..good
        };
        assert_eq!(edge.validate(), Ok(()));
        assert_eq!(Policy::from_u32(3), None);
    }
}
