//! Failover of a remote table's server, and the confirmed mode
//! (`?confirm=N`: every reservation and commit waits for `N` replicas in
//! the same round trip).
//!
//! * `a_write_the_replica_missed_is_refused_or_stale_never_duplicated`: the
//!   lost-write case made deterministic (cut the replica off, write on the
//!   primary, kill the primary, promote the replica).
//! * `sentinel_failover_under_load`: primary + two replicas + Sentinel,
//!   three client processes in the confirmed mode, the primary SIGKILLed
//!   mid-run: no confirmed admission over capacity, every slot back after
//!   its lease. `ES_FAILOVER_SECS` lengthens the run (`make soak`).
//!
//! The test binary re-executes itself (`failover_worker` with
//! `ES_FAILOVER_ROLE` set) to get independent client processes.

mod support;

use engine_slots::{Config, Engine, Error, Policy, RemoteTable};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::redis_cluster::{ask, wait_until, RedisCluster};
use support::shadow::Shadow;

/// Few slots (4) for the 9 client threads, so admissions contend for the
/// last slot all the time and an overcommit would show.
const ENGINES: usize = 2;
const CAP: u32 = 2;
/// Client threads per process.
const THREADS: usize = 3;
const TICKETS: u32 = 256;
/// Both leases: longer than any call (timeout 2 s), so a confirmed ticket a
/// client still holds is never reclaimed under it.
const LEASE_MS: u32 = 8_000;

fn cfg() -> Config {
    Config {
        max_engines: 8,
        max_tickets: TICKETS,
        default_capacity: CAP,
        pending_lease_ms: LEASE_MS,
        active_lease_ms: LEASE_MS,
        policy: Policy::LeastLoaded,
    }
}

/// The slot index a ticket handle carries (its low 20 bits).
fn slot(t: engine_slots::Ticket) -> u64 {
    t.raw() & 0xf_ffff
}

#[test]
fn a_write_the_replica_missed_is_refused_or_stale_never_duplicated() {
    let Some(mut c) = RedisCluster::start_or_skip("lost_write", 1, false) else {
        return;
    };
    let primary = c.primary.url();
    let plain = RemoteTable::open(&primary, "lost", Some(&cfg())).unwrap();
    // WAIT returns as soon as the replica acknowledges: a long confirm_ms
    // costs a healthy pair nothing, and keeps a loaded machine (the other
    // tests' servers) from failing the writes that must be confirmed.
    let patient_url = format!("{primary}?timeout_ms=10000&confirm=1&confirm_ms=8000");
    let patient = RemoteTable::open(&patient_url, "lost", None).unwrap();
    // The one that must fail waits 300 ms.
    let confirmed_url = format!("{primary}?confirm=1&confirm_ms=300");
    let confirmed = RemoteTable::open(&confirmed_url, "lost", None).unwrap();
    assert_eq!(confirmed.confirm_replicas(), 1);
    let e = plain.add_engine(b"e", 4).unwrap();

    // Confirmed while the replica listens: it has everything up to here.
    let kept = patient.reserve().unwrap().unwrap();
    patient.commit(kept.ticket).unwrap();

    // Cut the replica off: stopped, and its link closed by the primary, so
    // nothing written from now on reaches it (not even from a socket
    // buffer when it resumes).
    let replica = c.replicas.remove(0);
    replica.pause(true);
    let _: redis::Value = ask(
        c.primary.port,
        redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("replica"),
    )
    .unwrap();

    // Without the confirmed mode the primary acknowledges what no replica
    // has: a reservation, and the commit of another.
    let lost = plain.reserve().unwrap().unwrap();
    let lost_commit = plain.reserve().unwrap().unwrap();
    // The confirmed mode reports both as failed: the caller gets no
    // handle for the reservation, and learns the commit may be lost.
    let t0 = Instant::now();
    assert_eq!(confirmed.reserve(), Err(Error::Io(libc::ENOLINK)));
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(250), "WAIT ran {waited:?}");
    assert_eq!(
        confirmed.commit(lost_commit.ticket),
        Err(Error::Io(libc::ENOLINK))
    );
    // On the primary: the unconfirmed reservation was cancelled at once;
    // `lost` pending, `kept` and `lost_commit` active.
    let st = plain.engine_stats(e).unwrap();
    assert_eq!((st.active, st.pending, st.reserved_total), (2, 1, 4));

    // The primary dies; the replica, which missed the last writes, is
    // promoted.
    c.primary.kill();
    replica.pause(false);
    let _: redis::Value = ask(replica.port, redis::cmd("REPLICAOF").arg("NO").arg("ONE")).unwrap();
    let promoted = RemoteTable::open(&replica.url(), "lost", None).unwrap();

    // It counts what was confirmed, nothing else.
    let st = promoted.engine_stats(e).unwrap();
    assert_eq!((st.active, st.pending, st.reserved_total), (1, 0, 1));
    promoted.touch(kept.ticket).unwrap();
    // The acknowledged but lost handles are stale there, never live.
    assert_eq!(promoted.commit(lost.ticket), Err(Error::Stale));
    assert_eq!(promoted.cancel(lost.ticket), Err(Error::Stale));
    assert_eq!(promoted.release(lost_commit.ticket), Err(Error::Stale));
    assert_eq!(promoted.cancel(lost_commit.ticket), Err(Error::Stale));

    // Their slots are reused under other handles: never a duplicate.
    let forgotten = [lost.ticket, lost_commit.ticket];
    let slots: Vec<u64> = forgotten.iter().map(|&t| slot(t)).collect();
    let mut reused = 0;
    for _ in 0..200 {
        let r = promoted.reserve().unwrap().unwrap();
        assert!(!forgotten.contains(&r.ticket), "a lost handle issued again");
        reused += usize::from(slots.contains(&slot(r.ticket)));
        promoted.cancel(r.ticket).unwrap();
        assert_eq!(promoted.commit(lost.ticket), Err(Error::Stale));
    }
    assert!(reused > 0, "the lost tickets' slots were never reused");
    promoted.release(kept.ticket).unwrap();
    let st = promoted.engine_stats(e).unwrap();
    assert_eq!((st.active, st.pending), (0, 0));
    drop(replica);
}

#[test]
fn unconfirmed_writes_fail_fast_and_come_back() {
    // A replica that stops acknowledging (hung, cut off): every
    // reservation fails after `confirm_ms`, is cancelled on the surviving
    // primary, and admission resumes once the replica is back.
    let Some(c) = RedisCluster::start_or_skip("unconfirmed", 1, false) else {
        return;
    };
    // Writes that must be confirmed wait up to 8 s (WAIT returns as soon as
    // the replica acknowledges); those that must not, 200 ms.
    let patient = format!(
        "{}?timeout_ms=10000&confirm=1&confirm_ms=8000",
        c.primary.url()
    );
    let t = RemoteTable::open(&patient, "u", Some(&cfg())).unwrap();
    let hasty = format!("{}?confirm=1&confirm_ms=200", c.primary.url());
    let h = RemoteTable::open(&hasty, "u", None).unwrap();
    let e = t.add_engine(b"e", 1).unwrap();
    let r = t.reserve().unwrap().unwrap();
    t.cancel(r.ticket).unwrap();
    c.replicas[0].pause(true);
    for _ in 0..3 {
        assert_eq!(h.reserve(), Err(Error::Io(libc::ENOLINK)));
    }
    let st = t.engine_stats(e).unwrap();
    assert_eq!((st.active, st.pending), (0, 0), "unconfirmed: cancelled");
    c.replicas[0].pause(false);
    c.wait_synced(Duration::from_secs(30));
    let r = t.reserve().unwrap().unwrap();
    t.commit(r.ticket).unwrap();
    t.release(r.ticket).unwrap();
    // A URL asking for more replicas than there are: nothing is confirmed.
    let two = format!("{}?confirm=2&confirm_ms=50", c.primary.url());
    let t2 = RemoteTable::open(&two, "u", None).unwrap();
    assert_eq!(t2.reserve(), Err(Error::Io(libc::ENOLINK)));
    assert_eq!(t.engine_stats(e).unwrap().pending, 0);
}

#[test]
fn a_primary_without_enough_replicas_refuses_writes_as_enolink() {
    // min-replicas-to-write: the server itself refuses every write
    // (NOREPLICAS) while too few replicas are connected; nothing is written.
    let Some(c) = RedisCluster::start_or_skip("noreplicas", 0, false) else {
        return;
    };
    let t = RemoteTable::open(&c.primary.url(), "n", Some(&cfg())).unwrap();
    let e = t.add_engine(b"e", 2).unwrap();
    let _: () = ask(
        c.primary.port,
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("min-replicas-to-write")
            .arg("1"),
    )
    .unwrap();
    assert_eq!(t.reserve(), Err(Error::Io(libc::ENOLINK)));
    assert_eq!(t.set_capacity(e, 3), Err(Error::Io(libc::ENOLINK)));
    // Reads still answer, and show nothing was written.
    let st = t.engine_stats(e).unwrap();
    assert_eq!((st.capacity, st.pending, st.reserved_total), (2, 0, 0));
}

/// What one client thread saw.
#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    admitted: u64,
    /// Reservations answered "no room": the slots were contended.
    full: u64,
    over: u64,
    unconfirmed: u64,
    io: u64,
    stale: u64,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.admitted += o.admitted;
        self.full += o.full;
        self.over += o.over;
        self.unconfirmed += o.unconfirmed;
        self.io += o.io;
        self.stale += o.stale;
    }
}

/// Reserve, commit, hold a moment, release, until `stop` exists. The
/// shadow count goes up only after a confirmed reservation and down before
/// the release is sent, so it never exceeds what the server counts: a
/// shadow count over capacity is a confirmed admission over capacity.
fn churn(t: &RemoteTable, index: &HashMap<Engine, usize>, shadow: &Shadow, stop: &Path) -> Tally {
    let mut n = Tally::default();
    let io = |n: &mut Tally, e: Error| match e {
        Error::Io(libc::ENOLINK) => n.unconfirmed += 1,
        Error::Io(_) => n.io += 1,
        Error::Stale => n.stale += 1,
        e => panic!("unexpected {e:?}"),
    };
    while !stop.exists() {
        let r = match t.reserve() {
            Ok(Some(r)) => r,
            Ok(None) => {
                n.full += 1;
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            Err(e) => {
                io(&mut n, e);
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        let i = index[&r.engine];
        if shadow.at(i).fetch_add(1, Ordering::SeqCst) + 1 > CAP {
            n.over += 1;
        }
        n.admitted += 1;
        let committed = t.commit(r.ticket);
        if committed.is_ok() {
            std::thread::sleep(Duration::from_millis(2));
        }
        shadow.at(i).fetch_sub(1, Ordering::SeqCst);
        let finished = match committed {
            Ok(()) => t.release(r.ticket),
            // Never started: give it back if we can, else its lease does.
            Err(e) => {
                io(&mut n, e);
                let _ = t.finish(r.ticket);
                Ok(())
            }
        };
        if let Err(e) = finished {
            io(&mut n, e);
        }
    }
    n
}

fn engine_index(t: &RemoteTable) -> HashMap<Engine, usize> {
    (0..ENGINES)
        .map(|i| (t.find_engine(format!("e{i}").as_bytes()).unwrap(), i))
        .collect()
}

/// The body of the client processes (a no-op in a normal test run).
#[test]
fn failover_worker() {
    let Ok(role) = std::env::var("ES_FAILOVER_ROLE") else {
        return;
    };
    assert_eq!(role, "churn");
    let url = std::env::var("ES_FAILOVER_URL").unwrap();
    let dir = std::path::PathBuf::from(std::env::var("ES_FAILOVER_DIR").unwrap());
    let shadow = Shadow::open(&dir.join("shadow"), ENGINES);
    let t = RemoteTable::open(&url, "failover", None).unwrap();
    let index = engine_index(&t);
    let stop = dir.join("stop");
    let total = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..THREADS)
            .map(|_| sc.spawn(|| churn(&t, &index, &shadow, &stop)))
            .collect();
        let mut total = Tally::default();
        for h in hs {
            total.add(h.join().unwrap());
        }
        total
    });
    println!(
        "tally {} {} {} {} {} {}",
        total.admitted, total.full, total.over, total.unconfirmed, total.io, total.stale
    );
}

fn spawn_worker(url: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "failover_worker",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("ES_FAILOVER_ROLE", "churn")
        .env("ES_FAILOVER_URL", url)
        .env("ES_FAILOVER_DIR", dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn tally_of(out: &str) -> Tally {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("tally "))
        .expect("a worker report");
    let v: Vec<u64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    Tally {
        admitted: v[0],
        full: v[1],
        over: v[2],
        unconfirmed: v[3],
        io: v[4],
        stale: v[5],
    }
}

/// Kills the workers if the test fails before it joins them.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for k in &mut self.0 {
            let _ = k.kill();
            let _ = k.wait();
        }
    }
}

#[test]
fn sentinel_failover_under_load() {
    let Some(mut c) = RedisCluster::start_or_skip("sentinel_failover", 2, true) else {
        return;
    };
    let secs: u64 = std::env::var("ES_FAILOVER_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let url = format!(
        "{}?timeout_ms=2000&confirm=1&confirm_ms=500&session_ms=60000",
        c.sentinel_url()
    );
    let t = RemoteTable::open(&url, "failover", Some(&cfg())).unwrap();
    for i in 0..ENGINES {
        t.add_engine(format!("e{i}").as_bytes(), CAP).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("es-failover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _ = Shadow::open(&dir.join("shadow"), ENGINES);
    let mut workers = Workers((0..3).map(|_| spawn_worker(&url, &dir)).collect());

    // Load before the failover...
    wait_until(
        "admissions before the kill",
        Duration::from_secs(60),
        || {
            t.snapshot()
                .is_ok_and(|s| s.iter().map(|e| e.reserved_total).sum::<u64>() > 100)
        },
    );
    std::thread::sleep(Duration::from_secs(secs));
    let old = c.primary.port;
    let before: u64 = t.snapshot().unwrap().iter().map(|e| e.reserved_total).sum();
    assert!(before > 100);
    c.primary.kill();
    let killed = Instant::now();
    // ...Sentinel promotes a replica; the clients follow it.
    wait_until("a promotion", Duration::from_secs(60), || {
        c.primary_named().is_some_and(|p| p != old)
    });
    let promoted_after = killed.elapsed();
    let total_now = || {
        t.snapshot()
            .map(|s| s.iter().map(|e| e.reserved_total).sum::<u64>())
            .ok()
    };
    let mut first = None;
    wait_until("the new primary answers", Duration::from_secs(60), || {
        first = total_now();
        first.is_some()
    });
    let first = first.unwrap_or(0);
    wait_until(
        "admissions on the new primary",
        Duration::from_secs(60),
        || total_now().unwrap_or(0) > first + 100,
    );
    let serving_after = killed.elapsed();
    std::thread::sleep(Duration::from_secs(secs));
    std::fs::write(dir.join("stop"), b"").unwrap();

    let mut total = Tally::default();
    for k in std::mem::take(&mut workers.0) {
        let out = k.wait_with_output().unwrap();
        assert!(out.status.success(), "a worker failed");
        total.add(tally_of(&String::from_utf8_lossy(&out.stdout)));
    }
    let stopped = Instant::now();
    // Every slot comes back after its lease: tickets left by calls that
    // failed during the failover (unconfirmed, or unanswered).
    let recovered = wait_until(
        "every slot back",
        Duration::from_millis(LEASE_MS as u64 * 3),
        || {
            let _ = t.reclaim_expired();
            let idle = t
                .snapshot()
                .is_ok_and(|s| s.iter().all(|e| e.active + e.pending == 0));
            idle && t.ticket_counts().is_ok_and(|n| n.free == TICKETS)
        },
    );
    let end: u64 = t.snapshot().unwrap().iter().map(|e| e.reserved_total).sum();
    eprintln!(
        "failover: {total:?}; admissions on the old primary {before}+, on the new one {first}..{end}; \
         promoted {promoted_after:?} and 100 admissions on the new primary {serving_after:?} after the kill; \
         every slot back {recovered:?} after the clients stopped ({:?} since)",
        stopped.elapsed()
    );
    assert_eq!(total.over, 0, "confirmed admissions over capacity");
    assert_eq!(total.stale, 0, "a confirmed ticket was lost");
    assert!(total.admitted > 200, "too little load: {total:?}");
    assert!(total.full > 0, "the slots were never contended: {total:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
