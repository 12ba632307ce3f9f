//! What an `es_table` holds: an in-process or shared [`Table`], or a
//! [`RemoteTable`]. One `match` per call, so the local hot path pays a
//! predictable branch and nothing else.
//!
//! The methods have the names and signatures the `extern "C"` functions
//! call, so those read the same for every backend.

#[cfg(not(loom))]
use crate::RemoteTable;
use crate::{
    Config, Engine, EngineSpec, EngineStats, Reservation, Result, Table, Ticket, TicketCounts,
};

/// The table behind an `es_table`.
pub(crate) enum Backend {
    /// In this process's memory or in a shared file.
    Local(Table),
    /// Kept in a Redis server.
    #[cfg(not(loom))]
    Remote(RemoteTable),
}

impl From<Table> for Backend {
    fn from(t: Table) -> Backend {
        Backend::Local(t)
    }
}

#[cfg(not(loom))]
impl From<RemoteTable> for Backend {
    fn from(t: RemoteTable) -> Backend {
        Backend::Remote(t)
    }
}

/// Forwards each listed method to the backend's method of the same name.
macro_rules! forward {
    ($( fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl Backend {
            $(
                #[inline]
                pub(crate) fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self {
                        Backend::Local(t) => t.$name($($arg),*),
                        #[cfg(not(loom))]
                        Backend::Remote(t) => t.$name($($arg),*),
                    }
                }
            )*
        }
    };
}

forward! {
    fn config(&self) -> &Config;
    fn add_engine_with(&self, key: &[u8], spec: &EngineSpec) -> Result<Engine>;
    fn find_engine(&self, key: &[u8]) -> Result<Engine>;
    fn set_capacity(&self, e: Engine, capacity: u32) -> Result<()>;
    fn set_healthy(&self, e: Engine, healthy: bool) -> Result<()>;
    fn set_priority(&self, e: Engine, priority: i32) -> Result<()>;
    fn set_external(&self, e: Engine, streams: u32) -> Result<()>;
    fn drain(&self, e: Engine) -> Result<()>;
    fn undrain(&self, e: Engine) -> Result<()>;
    fn remove_engine(&self, e: Engine) -> Result<()>;
    fn reserve(&self) -> Result<Option<Reservation>>;
    fn reserve_on(&self, e: Engine) -> Result<Option<Reservation>>;
    fn commit(&self, t: Ticket) -> Result<()>;
    fn cancel(&self, t: Ticket) -> Result<()>;
    fn release(&self, t: Ticket) -> Result<()>;
    fn touch(&self, t: Ticket) -> Result<()>;
    fn finish(&self, t: Ticket) -> Result<()>;
    fn release_as_external(&self, t: Ticket) -> Result<()>;
    fn add_or_find(&self, key: &[u8], spec: &EngineSpec) -> Result<(Engine, bool)>;
    fn set_user(&self, e: Engine, user: u64) -> Result<()>;
    fn reserve_on_key(&self, key: &[u8]) -> Result<Option<Reservation>>;
    fn engine_stats(&self, e: Engine) -> Result<EngineStats>;
}

impl Backend {
    /// Reclaims expired tickets (a remote table can fail to answer).
    pub(crate) fn reclaim_expired(&self) -> Result<u32> {
        match self {
            Backend::Local(t) => Ok(t.reclaim_expired()),
            #[cfg(not(loom))]
            Backend::Remote(t) => t.reclaim_expired(),
        }
    }

    /// Calls `f` with each engine's stats, in slot order. A remote table
    /// reads them all first, so on an error `f` was never called.
    pub(crate) fn for_each_engine(&self, f: impl FnMut(&EngineStats)) -> Result<()> {
        match self {
            Backend::Local(t) => {
                t.for_each_engine(f);
                Ok(())
            }
            #[cfg(not(loom))]
            Backend::Remote(t) => t.for_each_engine(f),
        }
    }

    /// Ticket slots by state.
    pub(crate) fn ticket_counts(&self) -> Result<TicketCounts> {
        match self {
            Backend::Local(t) => Ok(t.ticket_counts()),
            #[cfg(not(loom))]
            Backend::Remote(t) => t.ticket_counts(),
        }
    }
}
