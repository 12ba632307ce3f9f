//! Remote tables under load: many threads and many processes on one table,
//! checked against an independent shadow count (0 overcommit, 0 leak), and
//! a client SIGKILLed while holding tickets.
//!
//! The test binary re-executes itself (`child_entry` with `ES_REMOTE_ROLE`
//! set) to get independent processes.

mod support;

use engine_slots::{Config, Engine, Policy, RemoteTable};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::redis_server::RedisServer;
use support::shadow::Shadow;

const ENGINES: usize = 4;
const CAP: u32 = 3;

fn cfg(policy: Policy) -> Config {
    Config {
        max_engines: 8,
        max_tickets: 256,
        default_capacity: CAP,
        pending_lease_ms: 30_000,
        active_lease_ms: 0,
        policy,
    }
}

/// Engine handle -> shadow slot.
fn engine_index(t: &RemoteTable) -> HashMap<Engine, usize> {
    (0..ENGINES)
        .map(|i| (t.find_engine(format!("e{i}").as_bytes()).unwrap(), i))
        .collect()
}

/// `rounds` reserve / commit / release cycles (some cancelled), checking
/// the shadow count after each admission; returns how many overcommits it
/// saw.
fn churn(t: &RemoteTable, shadow: &Shadow, rounds: usize, seed: u64) -> u32 {
    let index = engine_index(t);
    let mut over = 0;
    let mut x = seed | 1;
    let mut held = Vec::new();
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if let Some(r) = t.reserve().unwrap() {
            let i = index[&r.engine];
            let now = shadow.at(i).fetch_add(1, Ordering::SeqCst) + 1;
            if now > CAP {
                over += 1;
            }
            held.push((r.ticket, i, x % 4 != 0));
        }
        // Finish some of what we hold, oldest first.
        while held.len() > (x % 3) as usize {
            let (tk, i, commit) = held.remove(0);
            shadow.at(i).fetch_sub(1, Ordering::SeqCst);
            if commit {
                t.commit(tk).unwrap();
                t.release(tk).unwrap();
            } else {
                t.cancel(tk).unwrap();
            }
        }
    }
    for (tk, i, _) in held {
        shadow.at(i).fetch_sub(1, Ordering::SeqCst);
        t.cancel(tk).unwrap();
    }
    over
}

fn setup(url: &str, name: &str, policy: Policy) -> RemoteTable {
    let t = RemoteTable::open(url, name, Some(&cfg(policy))).unwrap();
    for i in 0..ENGINES {
        t.add_engine(format!("e{i}").as_bytes(), CAP).unwrap();
    }
    t
}

fn assert_no_leak(t: &RemoteTable) {
    for s in t.snapshot().unwrap() {
        assert_eq!((s.active, s.pending), (0, 0), "{}", s.key_lossy());
    }
    let c = t.ticket_counts().unwrap();
    assert_eq!((c.pending, c.active, c.free), (0, 0, 256));
}

fn temp(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("es-rstress-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn threads_share_one_table_without_overcommit_or_leak() {
    let Some(s) = RedisServer::start_or_skip("threads_share_one_table") else {
        return;
    };
    let url = format!("{}?timeout_ms=5000", s.url());
    for policy in [Policy::LeastLoaded, Policy::FillFirst, Policy::TwoChoices] {
        let name = format!("threads-{policy:?}");
        let t = setup(&url, &name, policy);
        let path = temp(&name);
        let shadow = Shadow::open(&path, ENGINES);
        let over: u32 = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..8)
                .map(|k| {
                    let (t, shadow) = (&t, &shadow);
                    sc.spawn(move || churn(t, shadow, 150, 0x9E37 + k))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(over, 0, "{policy:?}: overcommits seen by the shadow count");
        assert_no_leak(&t);
        let total: u64 = t.snapshot().unwrap().iter().map(|s| s.reserved_total).sum();
        assert!(total > 100, "{policy:?}: only {total} admissions");
        let _ = std::fs::remove_file(&path);
    }
}

fn spawn(role: &str, url: &str, name: &str, shadow: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("ES_REMOTE_ROLE", role)
        .env("ES_REMOTE_URL", url)
        .env("ES_REMOTE_NAME", name)
        .env("ES_REMOTE_SHADOW", shadow)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The body of the child processes (a no-op in a normal test run).
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("ES_REMOTE_ROLE") else {
        return;
    };
    let url = std::env::var("ES_REMOTE_URL").unwrap();
    let name = std::env::var("ES_REMOTE_NAME").unwrap();
    let shadow = Shadow::open(
        Path::new(&std::env::var("ES_REMOTE_SHADOW").unwrap()),
        ENGINES,
    );
    let t = RemoteTable::open(&url, &name, None).unwrap();
    match role.as_str() {
        "churn" => {
            let over = churn(&t, &shadow, 150, std::process::id() as u64);
            println!("over {over}");
        }
        "holder" => {
            // Holds three tickets (two active, one pending), then waits to
            // be killed.
            for k in 0..3 {
                let r = t.reserve().unwrap().unwrap();
                if k < 2 {
                    t.commit(r.ticket).unwrap();
                }
            }
            println!("holding");
            std::thread::sleep(Duration::from_secs(60));
        }
        r => panic!("unknown role {r}"),
    }
}

#[test]
fn processes_share_one_table_without_overcommit_or_leak() {
    let Some(s) = RedisServer::start_or_skip("processes_share_one_table") else {
        return;
    };
    let url = format!("{}?timeout_ms=5000", s.url());
    let t = setup(&url, "procs", Policy::LeastLoaded);
    let path = temp("procs");
    let shadow = Shadow::open(&path, ENGINES);
    let kids: Vec<Child> = (0..4)
        .map(|_| spawn("churn", &url, "procs", &path))
        .collect();
    // The parent churns too, at the same time.
    let mut over = churn(&t, &shadow, 100, 7);
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let n: u32 = text
            .lines()
            .find_map(|l| l.strip_prefix("over "))
            .expect("a child report")
            .trim()
            .parse()
            .unwrap();
        over += n;
    }
    assert_eq!(over, 0, "overcommits seen by the shadow count");
    assert_no_leak(&t);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_killed_client_loses_its_tickets_after_its_session() {
    let Some(s) = RedisServer::start_or_skip("a_killed_client_loses_its_tickets") else {
        return;
    };
    let url = format!("{}?session_ms=500", s.url());
    let t = RemoteTable::open(&url, "killed", Some(&cfg(Policy::LeastLoaded))).unwrap();
    let e = t.add_engine(b"e", 3).unwrap();
    let path = temp("killed");
    let mut kid = spawn("holder", &url, "killed", &path);
    let mut out = BufReader::new(kid.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim() != "holding" {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the holder died");
    }
    kid.kill().unwrap(); // SIGKILL: no destructor, no goodbye
    kid.wait().unwrap();
    let killed_at = Instant::now();
    let st = t.engine_stats(e).unwrap();
    assert_eq!((st.active, st.pending), (2, 1));
    assert_eq!(t.reserve().unwrap(), None, "still held within the session");
    // Within one session length (+ margin) every slot is back.
    loop {
        if t.reclaim_expired().unwrap() == 3 {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(5),
            "never reclaimed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let waited = killed_at.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "reclaimed too early: {waited:?}"
    );
    let st = t.engine_stats(e).unwrap();
    assert_eq!((st.active, st.pending), (0, 0));
    assert_eq!(t.ticket_counts().unwrap().free, 256);
    let _ = std::fs::remove_file(&path);
}
