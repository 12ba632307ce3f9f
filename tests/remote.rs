//! Remote tables: opening, unlinking, sessions, and every failure a server
//! can stage (each one a status, never a crash or a hang). The API and the
//! model tests run against remote tables in `table_api.rs` and `model.rs`.

mod support;

use engine_slots::{Config, Error, Policy, RemoteTable, Ticket};
use redis::Commands;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::fake_server::{bulk, FakeServer};
use support::redis_server::RedisServer;

fn cfg() -> Config {
    Config {
        max_engines: 4,
        max_tickets: 16,
        default_capacity: 2,
        pending_lease_ms: 0,
        active_lease_ms: 0,
        policy: Policy::LeastLoaded,
    }
}

macro_rules! server {
    () => {
        server!(&[])
    };
    ($args:expr) => {
        match RedisServer::start_with_or_skip(module_path!(), $args) {
            Some(s) => s,
            None => return,
        }
    };
}

#[test]
fn malformed_urls_names_and_configs_are_invalid() {
    for url in [
        "",
        "localhost:6379",
        "redis://h:0",
        "redis://h?timeout_ms=0",
        "redis://h?x=1",
    ] {
        assert_eq!(
            RemoteTable::open(url, "t", Some(&cfg())).unwrap_err(),
            Error::Invalid
        );
        assert_eq!(RemoteTable::unlink(url, "t").unwrap_err(), Error::Invalid);
    }
    for name in ["", "a b", "a{b}", &"n".repeat(65)] {
        let e = RemoteTable::open("redis://127.0.0.1:1", name, Some(&cfg())).unwrap_err();
        assert_eq!(e, Error::Invalid, "{name:?}");
    }
    let bad = Config {
        max_engines: 0,
        ..cfg()
    };
    let e = RemoteTable::open("redis://127.0.0.1:1", "t", Some(&bad)).unwrap_err();
    assert_eq!(e, Error::Invalid);
}

#[test]
fn open_create_and_config_rules() {
    let s = server!();
    let url = s.url();
    assert_eq!(
        RemoteTable::open(&url, "t", None).unwrap_err(),
        Error::NotFound
    );
    assert_eq!(RemoteTable::unlink(&url, "t").unwrap_err(), Error::NotFound);
    let a = RemoteTable::open(&url, "t", Some(&cfg())).unwrap();
    assert_eq!(*a.config(), cfg());
    let b = RemoteTable::open(&url, "t", None).unwrap();
    assert_eq!(*b.config(), cfg(), "None takes the table's own config");
    let other = Config {
        max_tickets: 17,
        ..cfg()
    };
    assert_eq!(
        RemoteTable::open(&url, "t", Some(&other)).unwrap_err(),
        Error::Invalid
    );
    assert_ne!(a.session_id(), b.session_id());
    // Two handles, one table.
    let e = a.add_engine(b"e", 1).unwrap();
    assert_eq!(b.find_engine(b"e"), Ok(e));
    let r = b.reserve().unwrap().unwrap();
    assert_eq!(a.reserve().unwrap(), None, "capacity 1 across handles");
    a.commit(r.ticket).unwrap();
    assert_eq!(b.commit(r.ticket), Err(Error::Stale));
    b.release(r.ticket).unwrap();
    // Unlink: the table is gone; open handles recreate it, empty.
    RemoteTable::unlink(&url, "t").unwrap();
    assert_eq!(
        RemoteTable::open(&url, "t", None).unwrap_err(),
        Error::NotFound
    );
    assert_eq!(a.find_engine(b"e"), Err(Error::NotFound));
    assert_eq!(a.engine_stats(e), Err(Error::Stale));
    assert_eq!(*RemoteTable::open(&url, "t", None).unwrap().config(), cfg());
}

#[test]
fn a_server_restarted_without_persistence_gets_library_and_table_back() {
    let mut s = server!();
    let url = s.url();
    let t = RemoteTable::open(&url, "t", Some(&cfg())).unwrap();
    let e = t.add_engine(b"e", 2).unwrap();
    let r = t.reserve().unwrap().unwrap();
    s.restart();
    // Functions and data are gone: the first call reconnects (a read is
    // retried on a new connection), reloads the library, recreates the
    // table, and finds the old handles stale.
    assert_eq!(t.engine_stats(e), Err(Error::Stale));
    assert_eq!(t.commit(r.ticket), Err(Error::Stale));
    assert_eq!(t.reserve(), Ok(None), "no engines any more");
    let e2 = t.add_engine(b"e", 2).unwrap();
    assert_ne!(e, e2);
    assert!(t.reserve().unwrap().is_some());
}

#[test]
fn handles_stay_unique_when_the_server_loses_writes() {
    // A replica promoted after missing the last writes: stage it by saving
    // the table's keys, reserving, and restoring the saved keys.
    let s = server!();
    let t = RemoteTable::open(&s.url(), "t", Some(&cfg())).unwrap();
    let e = t.add_engine(b"e", 2).unwrap();
    let mut c = s.client();
    let keys: Vec<Vec<u8>> = c.keys("es:{t}:*").unwrap();
    let dumps: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| redis::cmd("DUMP").arg(k).query(&mut c).unwrap())
        .collect();
    let lost = t.reserve().unwrap().unwrap();
    let all: Vec<Vec<u8>> = c.keys("es:{t}:*").unwrap();
    let _: () = c.del(all).unwrap();
    for (k, d) in keys.iter().zip(&dumps) {
        let _: () = redis::cmd("RESTORE")
            .arg(k)
            .arg(0)
            .arg(d)
            .query(&mut c)
            .unwrap();
    }
    for _ in 0..2 {
        let again = t.reserve().unwrap().unwrap();
        assert_eq!(again.engine, e);
        assert_ne!(
            again.ticket, lost.ticket,
            "a lost handle is never issued again"
        );
    }
    assert_eq!(
        t.commit(lost.ticket),
        Err(Error::Stale),
        "the lost reservation is detected"
    );
    assert_eq!(t.engine_stats(e).unwrap().pending, 2);
}

#[test]
fn wrong_or_missing_password_is_eacces() {
    let s = server!(&["--requirepass", "right"]);
    let base = format!("127.0.0.1:{}", s.port);
    for url in [format!("redis://:wrong@{base}"), format!("redis://{base}")] {
        let e = RemoteTable::open(&url, "t", Some(&cfg())).unwrap_err();
        assert_eq!(e, Error::Io(libc::EACCES), "{url}");
    }
    let t = RemoteTable::open(&format!("redis://:right@{base}/1"), "t", Some(&cfg())).unwrap();
    t.add_engine(b"e", 1).unwrap();
}

#[test]
fn disabled_fcall_is_enosys() {
    let s = server!(&["--rename-command", "FCALL", ""]);
    let e = RemoteTable::open(&s.url(), "t", Some(&cfg())).unwrap_err();
    assert_eq!(e, Error::Io(libc::ENOSYS));
    let s = server!(&["--rename-command", "FUNCTION", ""]);
    let e = RemoteTable::open(&s.url(), "t", Some(&cfg())).unwrap_err();
    assert_eq!(e, Error::Io(libc::ENOSYS));
}

#[test]
fn a_server_older_than_7_is_enotsup() {
    let fake = FakeServer::start(Arc::new(|w: &[Vec<u8>]| {
        Some(match w[0].to_ascii_uppercase().as_slice() {
            b"INFO" => bulk("# Server\r\nredis_version:6.2.14\r\n"),
            c => format!("-ERR unknown command '{}'\r\n", String::from_utf8_lossy(c)).into_bytes(),
        })
    }));
    let e = RemoteTable::open(&fake.url(), "t", Some(&cfg())).unwrap_err();
    assert_eq!(e, Error::Io(libc::ENOTSUP));
}

#[test]
fn garbage_answers_are_eproto() {
    let fake = FakeServer::start(Arc::new(|_: &[Vec<u8>]| Some(b"+hello\r\n".to_vec())));
    let e = RemoteTable::open(&fake.url(), "t", Some(&cfg())).unwrap_err();
    assert_eq!(e, Error::Io(libc::EPROTO));
}

#[test]
fn nothing_waits_longer_than_the_timeout() {
    let silent = FakeServer::start(Arc::new(|_: &[Vec<u8>]| None));
    let start = Instant::now();
    let e = RemoteTable::open(
        &format!("{}?timeout_ms=200", silent.url()),
        "t",
        Some(&cfg()),
    );
    assert_eq!(e.unwrap_err(), Error::Io(libc::ETIMEDOUT));
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );

    let s = server!();
    let t = RemoteTable::open(&format!("{}?timeout_ms=200", s.url()), "t", Some(&cfg())).unwrap();
    let e = t.add_engine(b"e", 2).unwrap();
    s.pause(true);
    let start = Instant::now();
    assert_eq!(t.reserve(), Err(Error::Io(libc::ETIMEDOUT)));
    assert_eq!(t.engine_stats(e), Err(Error::Io(libc::ETIMEDOUT)));
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );
    s.pause(false);
    // The pool dropped the timed-out connections; the table works again.
    // The reservation that timed out did take effect once the server woke
    // up (an Io error may or may not have); its lease or session reclaims it.
    assert!(t.reserve().unwrap().is_some());
    assert_eq!(t.engine_stats(e).unwrap().pending, 2);
}

#[test]
fn a_refused_connection_is_econnrefused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = RemoteTable::open(&format!("redis://127.0.0.1:{port}"), "t", Some(&cfg()));
    assert_eq!(e.unwrap_err(), Error::Io(libc::ECONNREFUSED));
}

#[test]
fn garbage_in_the_key_space_is_corrupt() {
    let s = server!();
    let url = s.url();
    let mut c = s.client();
    let _: () = c.set("es:{str}:meta", "garbage").unwrap();
    let _: () = c.hset("es:{foreign}:meta", "owner", "someone").unwrap();
    let _: () = c.hset("es:{future}:meta", "fmt", "engine_slots/9").unwrap();
    for name in ["str", "foreign", "future"] {
        let e = RemoteTable::open(&url, name, Some(&cfg())).unwrap_err();
        assert_eq!(e, Error::Corrupt, "{name}");
        assert_eq!(
            RemoteTable::open(&url, name, None).unwrap_err(),
            Error::Corrupt
        );
    }
    // A valid table whose other keys were overwritten.
    let t = RemoteTable::open(&url, "t", Some(&cfg())).unwrap();
    let e = t.add_engine(b"e", 2).unwrap();
    let _: () = c.set("es:{t}:room", "garbage").unwrap();
    assert_eq!(t.reserve(), Err(Error::Corrupt));
    let _: () = c.set("es:{t}:e:0", "many things").unwrap();
    assert_eq!(t.engine_stats(e), Err(Error::Corrupt));
    let _: () = c.hset("es:{t}:meta", "clk", "noon").unwrap();
    assert_eq!(t.ticket_counts(), Err(Error::Corrupt));
    // Unlink still clears it all.
    RemoteTable::unlink(&url, "t").unwrap();
    RemoteTable::unlink(&url, "str").unwrap();
    let left: Vec<String> = c.keys("es:{t}:*").unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_library_of_another_major_is_left_alone() {
    let s = server!();
    let mut c = s.client();
    let other = "#!lua name=engine_slots\n\
        redis.register_function('es_version', function() return {2, 0} end)\n";
    let _: () = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(other)
        .query(&mut c)
        .unwrap();
    let e = RemoteTable::open(&s.url(), "t", Some(&cfg())).unwrap_err();
    assert_eq!(e, Error::Io(libc::EPROTO));
    let code: String = redis::cmd("FUNCTION")
        .arg("LIST")
        .query::<redis::Value>(&mut c)
        .map(|v| format!("{v:?}"))
        .unwrap();
    assert!(
        code.contains("es_version") && !code.contains("es_reserve"),
        "not replaced"
    );
}

#[test]
fn tickets_of_a_dropped_table_come_back_after_its_session() {
    let s = server!();
    let url = format!("{}?session_ms=300", s.url());
    let keep = RemoteTable::open(&url, "t", Some(&cfg())).unwrap();
    let e = keep.add_engine(b"e", 2).unwrap();
    let gone = RemoteTable::open(&url, "t", None).unwrap();
    let a = gone.reserve().unwrap().unwrap();
    gone.commit(a.ticket).unwrap();
    gone.reserve().unwrap().unwrap();
    drop(gone);
    assert_eq!(
        keep.reclaim_expired(),
        Ok(0),
        "the session is still running"
    );
    assert_eq!(keep.reserve(), Ok(None));
    std::thread::sleep(Duration::from_millis(400));
    // No room: reserve reclaims the dead session's tickets itself.
    let r = keep
        .reserve()
        .unwrap()
        .expect("the dead session's slots came back");
    assert_eq!(keep.release(a.ticket), Err(Error::Stale));
    let st = keep.engine_stats(e).unwrap();
    assert_eq!((st.active, st.pending, st.expired_total), (0, 1, 0));
    keep.cancel(r.ticket).unwrap();
    assert_eq!(keep.ticket_counts().unwrap().free, 16);
}

#[test]
fn the_heartbeat_keeps_a_live_session() {
    let s = server!();
    let url = format!("{}?session_ms=150", s.url());
    let holder = RemoteTable::open(&url, "t", Some(&cfg())).unwrap();
    holder.add_engine(b"e", 1).unwrap();
    let r = holder.reserve().unwrap().unwrap();
    let other = RemoteTable::open(&url, "t", None).unwrap();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(other.reclaim_expired(), Ok(0));
    }
    holder.commit(r.ticket).unwrap();
    holder.release(r.ticket).unwrap();
}

#[test]
fn foreign_handles_never_cost_a_round_trip_or_act() {
    let s = server!();
    let t = RemoteTable::open(&s.url(), "t", Some(&cfg())).unwrap();
    let local = engine_slots::Table::new(cfg()).unwrap();
    let le = local.add_engine(b"e", 1).unwrap();
    let lt = local.reserve().unwrap().unwrap().ticket;
    t.add_engine(b"e", 1).unwrap();
    assert_eq!(t.engine_stats(le), Err(Error::Stale));
    assert_eq!(t.cancel(lt), Err(Error::Stale));
    assert_eq!(t.commit(Ticket::from_raw(0)), Err(Error::Stale));
    s.pause(true);
    // Not even asked: a local handle is stale without the server.
    assert_eq!(t.cancel(lt), Err(Error::Stale));
    s.pause(false);
}

#[test]
fn sentinel_names_the_primary() {
    let s = server!();
    let dir = std::env::temp_dir().join(format!("es-sentinel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!("sentinel monitor mymaster 127.0.0.1 {} 1\n", s.port),
    )
    .unwrap();
    let sentinel = match RedisServer::start_with_or_skip(
        module_path!(),
        &[conf.to_str().unwrap(), "--sentinel"],
    ) {
        Some(x) => x,
        None => return,
    };
    let unreachable = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!(
        "redis+sentinel://127.0.0.1:{unreachable},127.0.0.1:{}/mymaster",
        sentinel.port
    );
    let t = RemoteTable::open(&url, "t", Some(&cfg())).unwrap();
    let e = t.add_engine(b"e", 1).unwrap();
    let direct = RemoteTable::open(&s.url(), "t", None).unwrap();
    assert_eq!(direct.find_engine(b"e"), Ok(e), "the same primary");
    let bad = format!("redis+sentinel://127.0.0.1:{}/nosuchmaster", sentinel.port);
    let err = RemoteTable::open(&bad, "t", Some(&cfg())).unwrap_err();
    assert_eq!(err, Error::Io(libc::EHOSTUNREACH));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_with_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("es-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    // A private CA, and a server certificate it signed for 127.0.0.1.
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let made = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=es-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]) && openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "req.csr",
    ]) && openssl(&[
        "x509",
        "-req",
        "-in",
        "req.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "cert.pem",
    ]);
    if !made {
        eprintln!("\n*** SKIPPED tls_with_a_private_ca: no openssl to make a certificate ***\n");
        return;
    }
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let (c, k, a) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        ca.to_str().unwrap(),
    );
    let s = server!(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        c,
        "--tls-key-file",
        k,
        "--tls-ca-cert-file",
        a,
        "--tls-auth-clients",
        "no",
    ]);
    let url = format!("rediss://127.0.0.1:{tls_port}?timeout_ms=3000&tls_ca={a}");
    let t = RemoteTable::open(&url, "t", Some(&cfg())).unwrap();
    let e = t.add_engine(b"e", 1).unwrap();
    let r = t.reserve().unwrap().unwrap();
    assert_eq!(r.engine, e);
    // The same table over plain TCP: one server, one table.
    let plain = RemoteTable::open(&s.url(), "t", None).unwrap();
    assert_eq!(plain.reserve().unwrap(), None);
    // Without our CA the server's certificate is not trusted: no session.
    let untrusted = format!("rediss://127.0.0.1:{tls_port}?timeout_ms=3000");
    assert!(matches!(
        RemoteTable::open(&untrusted, "t", None),
        Err(Error::Io(_))
    ));
    let missing = format!("rediss://127.0.0.1:{tls_port}?tls_ca=/nonexistent/ca.pem");
    assert_eq!(
        RemoteTable::open(&missing, "t", None).unwrap_err(),
        Error::Io(libc::ENOENT)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Selection against SPEC's order, computed by brute force from a snapshot,
/// on a table of many engines with mixed capacity, load, priority and
/// health (the model test covers few engines; this covers the sorted-set
/// encoding: ratios of large capacities, negative priorities, tiers).
#[test]
fn selection_follows_spec_order_among_many_engines() {
    let s = server!();
    for policy in [Policy::LeastLoaded, Policy::FillFirst] {
        let cfg = Config {
            max_engines: 400,
            max_tickets: 4096,
            default_capacity: 1,
            pending_lease_ms: 0,
            active_lease_ms: 0,
            policy,
        };
        let name = format!("many-{policy:?}");
        let t = RemoteTable::open(&s.url(), &name, Some(&cfg)).unwrap();
        t.set_test_clock(Some(5_000)).unwrap();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut reserved = std::collections::HashSet::new();
        for i in 0..300u32 {
            let spec = engine_slots::EngineSpec {
                capacity: [1, 2, 3, 7, 1000, 2047][rnd(6) as usize],
                healthy: rnd(5) != 0,
                priority: [i32::MIN, -3, 0, 0, 0, 2, i32::MAX][rnd(7) as usize],
                external: rnd(3) as u32,
                draining: rnd(20) == 0,
                user: u64::from(i),
            };
            t.add_engine_with(format!("e{i:03}").as_bytes(), &spec)
                .unwrap();
        }
        for _ in 0..150 {
            let snap = t.snapshot().unwrap();
            let room: Vec<_> = snap
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.draining && s.load() < s.capacity as u64)
                .collect();
            let best = room.iter().min_by(|(ia, a), (ib, b)| {
                let ratio = (a.load() * b.capacity as u64).cmp(&(b.load() * a.capacity as u64));
                let ratio = if policy == Policy::FillFirst {
                    ratio.reverse()
                } else {
                    ratio
                };
                let last = |e: &engine_slots::EngineStats| reserved.contains(&e.engine);
                let recency = if policy == Policy::LeastLoaded {
                    last(a).cmp(&last(b))
                } else {
                    std::cmp::Ordering::Equal
                };
                b.healthy
                    .cmp(&a.healthy)
                    .then(ratio)
                    .then(b.priority.cmp(&a.priority))
                    .then(recency)
                    .then(ia.cmp(ib))
            });
            match (t.reserve().unwrap(), best) {
                (Some(r), Some((_, want))) => {
                    assert_eq!(r.engine, want.engine, "{policy:?}: picked {:?}", r.engine);
                    reserved.insert(r.engine);
                }
                (None, None) => break,
                (got, want) => panic!("{policy:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
