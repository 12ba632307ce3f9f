//! One conformance suite for every backend: the in-process table, the
//! shared table (a file) and the remote table (a Redis server).
//!
//! [`Slots`] is the table API as the tests use it; [`Backend`] makes
//! tables of one kind, each with a test clock that only the test moves (a
//! `ManualClock`, or the remote table's server-side test clock key).
//! [`conformance!`] turns a generic test `fn name(b: &Backend)` into one
//! `#[test]` per backend.

use super::redis_server::RedisServer;
use engine_slots::{
    Clock, Config, Engine, EngineSpec, EngineStats, ManualClock, RemoteTable, Reservation, Result,
    Table, Ticket, TicketCounts,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The table API of the tests. Remote I/O errors panic here: the suite
/// checks semantics, other tests check failures.
pub trait Slots {
    fn config(&self) -> Config;
    fn add_engine(&self, key: &[u8], capacity: u32) -> Result<Engine>;
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
    fn reclaim_expired(&self) -> u32;
    fn engine_stats(&self, e: Engine) -> Result<EngineStats>;
    fn snapshot(&self) -> Vec<EngineStats>;
    fn ticket_counts(&self) -> TicketCounts;
    /// Sets the table's test clock (ms); only tables made with a clock.
    fn set_clock_ms(&self, ms: u64);
}

macro_rules! forward_common {
    () => {
        fn add_engine(&self, key: &[u8], capacity: u32) -> Result<Engine> {
            self.t.add_engine(key, capacity)
        }
        fn add_engine_with(&self, key: &[u8], spec: &EngineSpec) -> Result<Engine> {
            self.t.add_engine_with(key, spec)
        }
        fn find_engine(&self, key: &[u8]) -> Result<Engine> {
            self.t.find_engine(key)
        }
        fn finish(&self, t: Ticket) -> Result<()> {
            self.t.finish(t)
        }
        fn release_as_external(&self, t: Ticket) -> Result<()> {
            self.t.release_as_external(t)
        }
        fn add_or_find(&self, key: &[u8], spec: &EngineSpec) -> Result<(Engine, bool)> {
            self.t.add_or_find(key, spec)
        }
        fn set_user(&self, e: Engine, user: u64) -> Result<()> {
            self.t.set_user(e, user)
        }
        fn reserve_on_key(&self, key: &[u8]) -> Result<Option<Reservation>> {
            self.t.reserve_on_key(key)
        }
        fn set_capacity(&self, e: Engine, capacity: u32) -> Result<()> {
            self.t.set_capacity(e, capacity)
        }
        fn set_healthy(&self, e: Engine, healthy: bool) -> Result<()> {
            self.t.set_healthy(e, healthy)
        }
        fn set_priority(&self, e: Engine, priority: i32) -> Result<()> {
            self.t.set_priority(e, priority)
        }
        fn set_external(&self, e: Engine, streams: u32) -> Result<()> {
            self.t.set_external(e, streams)
        }
        fn drain(&self, e: Engine) -> Result<()> {
            self.t.drain(e)
        }
        fn undrain(&self, e: Engine) -> Result<()> {
            self.t.undrain(e)
        }
        fn remove_engine(&self, e: Engine) -> Result<()> {
            self.t.remove_engine(e)
        }
        fn reserve(&self) -> Result<Option<Reservation>> {
            self.t.reserve()
        }
        fn reserve_on(&self, e: Engine) -> Result<Option<Reservation>> {
            self.t.reserve_on(e)
        }
        fn commit(&self, t: Ticket) -> Result<()> {
            self.t.commit(t)
        }
        fn cancel(&self, t: Ticket) -> Result<()> {
            self.t.cancel(t)
        }
        fn release(&self, t: Ticket) -> Result<()> {
            self.t.release(t)
        }
        fn touch(&self, t: Ticket) -> Result<()> {
            self.t.touch(t)
        }
        fn engine_stats(&self, e: Engine) -> Result<EngineStats> {
            self.t.engine_stats(e)
        }
    };
}

/// An in-process or shared table with its manual clock.
pub struct LocalSlots {
    pub t: Table,
    clock: ManualClock,
}

impl Slots for LocalSlots {
    forward_common!();
    fn config(&self) -> Config {
        *self.t.config()
    }
    fn reclaim_expired(&self) -> u32 {
        self.t.reclaim_expired()
    }
    fn snapshot(&self) -> Vec<EngineStats> {
        self.t.snapshot()
    }
    fn ticket_counts(&self) -> TicketCounts {
        self.t.ticket_counts()
    }
    fn set_clock_ms(&self, ms: u64) {
        self.clock.set_ms(ms);
    }
}

/// A remote table; its test clock is the server-side clock key.
pub struct RemoteSlots {
    pub t: RemoteTable,
}

impl Slots for RemoteSlots {
    forward_common!();
    fn config(&self) -> Config {
        *self.t.config()
    }
    fn reclaim_expired(&self) -> u32 {
        self.t.reclaim_expired().expect("remote reclaim")
    }
    fn snapshot(&self) -> Vec<EngineStats> {
        self.t.snapshot().expect("remote snapshot")
    }
    fn ticket_counts(&self) -> TicketCounts {
        self.t.ticket_counts().expect("remote counts")
    }
    fn set_clock_ms(&self, ms: u64) {
        self.t.set_test_clock(Some(ms)).expect("remote test clock");
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Local,
    Shared,
    Remote,
}

/// Makes tables of one kind (a remote backend owns its server).
pub struct Backend {
    pub kind: Kind,
    pub server: Option<RedisServer>,
    /// Shared tables: the file name prefix (each file is unlinked as soon
    /// as it is open, so nothing is left behind).
    stem: PathBuf,
    count: AtomicU32,
}

impl Backend {
    /// `None` when the kind cannot run here (remote without redis-server;
    /// the skip is printed).
    pub fn new(kind: Kind, test: &str) -> Option<Backend> {
        let server = match kind {
            Kind::Remote => Some(RedisServer::start_or_skip(test)?),
            _ => None,
        };
        let stem = std::env::temp_dir().join(format!(
            "es-conf-{}-{}",
            std::process::id(),
            test.replace("::", "-")
        ));
        Some(Backend {
            kind,
            server,
            stem,
            count: AtomicU32::new(0),
        })
    }

    pub fn url(&self) -> String {
        self.server.as_ref().expect("a remote backend").url()
    }

    /// A new, empty table whose lease clock reads `start_ms` until the test
    /// moves it.
    pub fn table_at(&self, cfg: Config, start_ms: u64) -> Box<dyn Slots> {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        match self.kind {
            Kind::Local => {
                let clock = ManualClock::new(start_ms);
                let t = Table::with_manual_clock(cfg, &clock).unwrap();
                Box::new(LocalSlots { t, clock })
            }
            Kind::Shared => {
                let clock = ManualClock::new(start_ms);
                let path = PathBuf::from(format!("{}-t{n}", self.stem.display()));
                let _ = std::fs::remove_file(&path);
                let t =
                    Table::open_shared_with_clock(&path, Some(&cfg), Clock::Manual(clock.clone()))
                        .unwrap();
                let _ = std::fs::remove_file(&path);
                Box::new(LocalSlots { t, clock })
            }
            Kind::Remote => {
                let name = format!("t{n}");
                let url = self.url();
                let t = RemoteTable::open(&format!("{url}?timeout_ms=5000"), &name, Some(&cfg))
                    .unwrap();
                t.set_test_clock(Some(start_ms)).unwrap();
                Box::new(RemoteSlots { t })
            }
        }
    }

    /// A new table at test-clock time 1 000 000 ms.
    pub fn table(&self, cfg: Config) -> Box<dyn Slots> {
        self.table_at(cfg, 1_000_000)
    }
}

/// Moves a test clock by hand, in step with the model's time.
pub struct TestClock<'a> {
    t: &'a dyn Slots,
    ms: std::cell::Cell<u64>,
}

impl<'a> TestClock<'a> {
    pub fn new(t: &'a dyn Slots, start_ms: u64) -> TestClock<'a> {
        TestClock {
            t,
            ms: std::cell::Cell::new(start_ms),
        }
    }
    pub fn advance(&self, d: Duration) {
        self.set_ms(self.ms.get() + d.as_millis() as u64);
    }
    pub fn set_ms(&self, ms: u64) {
        self.ms.set(ms);
        self.t.set_clock_ms(ms);
    }
}

/// `conformance!(name, ...)`: for each generic test `fn name(b: &Backend)`,
/// a module `name` with one `#[test]` per backend kind.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::support::backends::{Backend, Kind};
                fn run(kind: Kind) {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    if let Some(b) = Backend::new(kind, test) {
                        super::$name(&b);
                    }
                }
                #[test]
                fn local() {
                    run(Kind::Local);
                }
                #[test]
                fn shared() {
                    run(Kind::Shared);
                }
                #[test]
                fn remote() {
                    run(Kind::Remote);
                }
            }
        )*
    };
}
