//! Shared tables across real processes.
//!
//! The test binary re-executes itself (`child_entry` with `ES_SHM_ROLE` set)
//! to get independent processes without `fork` in a threaded harness.

mod support;

use engine_slots::{Config, Error, Policy, SharedView, Table};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::shadow::Shadow;

const CAP: u32 = 2;
const ENGINES: usize = 4;

fn cfg() -> Config {
    Config {
        max_engines: 8,
        max_tickets: 64,
        default_capacity: CAP,
        pending_lease_ms: 0,
        active_lease_ms: 0,
        policy: Policy::LeastLoaded,
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("es-shm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn spawn(role: &str, path: &Path, extra: &[(&str, String)]) -> Child {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "child_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env("ES_SHM_ROLE", role)
    .env("ES_SHM_PATH", path)
    .stdout(Stdio::piped());
    for (k, v) in extra {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

/// Entry point of the child processes (a no-op in a normal test run).
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("ES_SHM_ROLE") else {
        return;
    };
    let path = PathBuf::from(std::env::var("ES_SHM_PATH").unwrap());
    match role.as_str() {
        "hammer" => {
            let t = Table::open_shared(&path, None).unwrap();
            let shadow = Shadow::open(Path::new(&std::env::var("ES_SHM_SHADOW").unwrap()), ENGINES);
            let keys: Vec<_> = t.snapshot().iter().map(|s| s.engine).collect();
            let until = Instant::now() + Duration::from_millis(800);
            let mut n = 0u64;
            while Instant::now() < until {
                let Some(r) = t.reserve().unwrap() else {
                    continue;
                };
                let i = keys.iter().position(|&k| k == r.engine).unwrap();
                let now = shadow.at(i).fetch_add(1, Ordering::SeqCst) + 1;
                assert!(now <= CAP, "engine {i} has {now} holders across processes");
                if n % 3 == 0 {
                    shadow.at(i).fetch_sub(1, Ordering::SeqCst);
                    t.cancel(r.ticket).unwrap();
                } else {
                    t.commit(r.ticket).unwrap();
                    t.touch(r.ticket).unwrap();
                    shadow.at(i).fetch_sub(1, Ordering::SeqCst);
                    t.release(r.ticket).unwrap();
                }
                n += 1;
            }
            println!("ADMITTED {n}");
        }
        "holder" => {
            let t = Table::open_shared(&path, None).unwrap();
            let mut held = vec![];
            for i in 0..4 {
                let r = t.reserve().unwrap().unwrap();
                if i % 2 == 0 {
                    t.commit(r.ticket).unwrap();
                }
                held.push(r);
            }
            println!("READY");
            std::io::stdout().flush().unwrap();
            std::thread::sleep(Duration::from_secs(60));
        }
        "creator" => {
            let t = Table::open_shared(&path, Some(&cfg())).unwrap();
            let me = std::env::var("ES_SHM_ID").unwrap();
            t.add_engine(me.as_bytes(), 0).unwrap();
            println!("CONFIG {:?} SIZE {}", t.config(), t.memory_size());
        }
        "opener" => match Table::open_shared(&path, None) {
            Ok(_) => println!("OPENED"),
            Err(e) => println!("REFUSED {e:?}"),
        },
        other => panic!("unknown role {other}"),
    }
}

/// Starts a "holder" child and waits until it holds its tickets.
fn spawn_holder(path: &Path) -> Child {
    let mut child = spawn("holder", path, &[]);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("READY") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child exited early");
    }
    child
}

fn output_lines(c: Child) -> Vec<String> {
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn processes_share_one_table_without_overcommit() {
    let path = temp("hammer.table");
    let shadow_path = temp("hammer.shadow");
    let t = Table::open_shared(&path, Some(&cfg())).unwrap();
    assert!(t.is_shared());
    let engines: Vec<_> = (0..ENGINES)
        .map(|i| t.add_engine(format!("e{i}").as_bytes(), CAP).unwrap())
        .collect();
    let shadow = Shadow::open(&shadow_path, ENGINES);
    let kids: Vec<Child> = (0..3)
        .map(|_| {
            spawn(
                "hammer",
                &path,
                &[("ES_SHM_SHADOW", shadow_path.display().to_string())],
            )
        })
        .collect();
    let mut total = 0u64;
    for k in kids {
        let lines = output_lines(k);
        let n: u64 = lines
            .iter()
            .find_map(|l| l.strip_prefix("ADMITTED "))
            .expect("child reported")
            .parse()
            .unwrap();
        total += n;
    }
    assert!(total > 100, "the processes made progress ({total})");
    for (i, e) in engines.iter().enumerate() {
        let s = t.engine_stats(*e).unwrap();
        assert_eq!((s.active, s.pending), (0, 0));
        assert_eq!(shadow.at(i).load(Ordering::SeqCst), 0);
    }
    let admitted: u64 = t.snapshot().iter().map(|s| s.reserved_total).sum();
    assert_eq!(admitted, total);
    drop(t);
    Table::unlink_shared(&path).unwrap();
}

#[test]
fn a_killed_process_loses_its_tickets() {
    let path = temp("kill.table");
    let t = Table::open_shared(
        &path,
        Some(&Config {
            max_tickets: 8,
            ..cfg()
        }),
    )
    .unwrap();
    let e = t.add_engine(b"only", 6).unwrap();
    let mut child = spawn_holder(&path);
    let mine = t.reserve().unwrap().unwrap();
    t.commit(mine.ticket).unwrap();
    let s = t.engine_stats(e).unwrap();
    assert_eq!((s.active, s.pending), (3, 2));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(t.reclaim_expired(), 4);
    let s = t.engine_stats(e).unwrap();
    assert_eq!(
        (s.active, s.pending),
        (1, 0),
        "ours survives, theirs are back"
    );
    assert_eq!(t.ticket_counts().free, 7);
    t.release(mine.ticket).unwrap();
    Table::unlink_shared(&path).unwrap();
}

#[test]
fn a_dead_holders_tickets_come_back_inside_reserve() {
    let path = temp("lazy.table");
    let t = Table::open_shared(
        &path,
        Some(&Config {
            max_tickets: 8,
            ..cfg()
        }),
    )
    .unwrap();
    t.add_engine(b"only", 4).unwrap();
    let mut child = spawn_holder(&path);
    assert_eq!(t.reserve().unwrap(), None, "full while the holder lives");
    child.kill().unwrap();
    child.wait().unwrap();
    // The liveness scan inside reserve is rate-limited (50 ms).
    let deadline = Instant::now() + Duration::from_secs(5);
    let r = loop {
        if let Some(r) = t.reserve().unwrap() {
            break r;
        }
        assert!(Instant::now() < deadline, "capacity never came back");
        std::thread::sleep(Duration::from_millis(10));
    };
    t.cancel(r.ticket).unwrap();
    Table::unlink_shared(&path).unwrap();
}

#[test]
fn concurrent_creators_agree() {
    let path = temp("create.table");
    let kids: Vec<Child> = (0..4)
        .map(|i| spawn("creator", &path, &[("ES_SHM_ID", format!("p{i}"))]))
        .collect();
    let mut seen = vec![];
    for k in kids {
        seen.extend(
            output_lines(k)
                .into_iter()
                .filter(|l| l.starts_with("CONFIG")),
        );
    }
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|l| *l == seen[0]), "{seen:?}");
    let t = Table::open_shared(&path, None).unwrap();
    assert_eq!(*t.config(), cfg());
    let mut keys: Vec<String> = t
        .snapshot()
        .iter()
        .map(|s| s.key_lossy().into_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, ["p0", "p1", "p2", "p3"]);
    let view = SharedView::open(&path).unwrap();
    assert_eq!(view.snapshot().len(), 4);
    assert_eq!(view.ticket_counts().free, 64);
    Table::unlink_shared(&path).unwrap();
}

#[test]
fn bad_files_are_refused() {
    let path = temp("bad.table");
    assert!(matches!(
        Table::open_shared(&path, None),
        Err(Error::Io(libc::ENOENT))
    ));
    assert_eq!(
        Table::open_shared(
            &path,
            Some(&Config {
                max_engines: 0,
                ..cfg()
            })
        )
        .unwrap_err(),
        Error::Invalid
    );
    assert!(!path.exists(), "an invalid config creates nothing");
    let good = Table::open_shared(&path, Some(&cfg())).unwrap();
    drop(good);
    assert_eq!(
        Table::open_shared(
            &path,
            Some(&Config {
                max_tickets: 65,
                ..cfg()
            })
        )
        .unwrap_err(),
        Error::Invalid
    );
    let bytes = std::fs::read(&path).unwrap();
    let write = |b: &[u8]| std::fs::write(&path, b).unwrap();
    let corrupt = |what: &str| {
        let r = Table::open_shared(&path, None);
        assert_eq!(r.unwrap_err(), Error::Corrupt, "{what}");
        assert_eq!(
            SharedView::open(&path).unwrap_err(),
            Error::Corrupt,
            "{what} (read-only)"
        );
    };
    // Truncated: only the header, then half of it.
    write(&bytes[..512]);
    corrupt("truncated to the header");
    write(&bytes[..40]);
    corrupt("truncated inside the header");
    // Wrong magic, wrong version.
    let mut b = bytes.clone();
    b[0] ^= 0xFF;
    write(&b);
    corrupt("wrong magic");
    let mut b = bytes.clone();
    b[8] = 99;
    write(&b);
    corrupt("wrong version");
    // Out-of-range config fields and inconsistent sizes.
    for (off, val) in [
        (24usize, 0u32),
        (24, 70_000),
        (28, 0),
        (28, u32::MAX),
        (32, 0),
        (32, 5000),
        (44, 9),
    ] {
        let mut b = bytes.clone();
        b[off..off + 4].copy_from_slice(&val.to_ne_bytes());
        write(&b);
        corrupt(&format!("field at {off} = {val}"));
    }
    let mut b = bytes.clone();
    b[16] ^= 1;
    write(&b);
    corrupt("wrong total size");
    // Random bytes.
    let mut x = 0x1234_5678_9abc_def0u64;
    let rnd: Vec<u8> = (0..bytes.len())
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    write(&rnd);
    corrupt("random bytes");
    // Not a path we can use.
    assert_eq!(
        Table::open_shared("bad\0path", Some(&cfg())).unwrap_err(),
        Error::Invalid
    );
    assert!(matches!(
        Table::open_shared("/nonexistent-dir/x", Some(&cfg())),
        Err(Error::Io(_))
    ));
    Table::unlink_shared(&path).unwrap();
    assert!(matches!(
        Table::unlink_shared(&path),
        Err(Error::Io(libc::ENOENT))
    ));
}

#[test]
fn garbage_inside_a_valid_header_is_survived() {
    // Every index read from shared memory is bounds-checked: scribble over
    // every slot and use the table; no operation may crash.
    let path = temp("scribble.table");
    let t = Table::open_shared(&path, Some(&cfg())).unwrap();
    t.add_engine(b"e", 2).unwrap();
    drop(t);
    let mut b = std::fs::read(&path).unwrap();
    let mut x = 0xfeed_beef_u64;
    for byte in b.iter_mut().skip(512) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *byte = x as u8;
    }
    std::fs::write(&path, &b).unwrap();
    let t = Table::open_shared(&path, None).unwrap();
    for _ in 0..200 {
        if let Ok(Some(r)) = t.reserve() {
            let _ = t.commit(r.ticket);
            let _ = t.release(r.ticket);
        }
        let _ = t.reclaim_expired();
        let _ = t.snapshot();
        let _ = t.add_engine(b"new", 1);
        let _ = t.find_engine(b"e");
    }
    Table::unlink_shared(&path).unwrap();
}

#[test]
fn inspect_prints_and_never_writes() {
    let path = temp("inspect.table");
    let t = Table::open_shared(
        &path,
        Some(&Config {
            pending_lease_ms: 5000,
            ..cfg()
        }),
    )
    .unwrap();
    let a = t.add_engine(b"engine-a", 3).unwrap();
    t.add_engine(b"quote\"key", 1).unwrap();
    t.set_healthy(a, false).unwrap();
    t.set_user(a, 0xfeed).unwrap();
    let r = t.reserve_on(a).unwrap().unwrap();
    t.commit(r.ticket).unwrap();
    t.reserve_on(a).unwrap().unwrap();
    let before = std::fs::read(&path).unwrap();
    let bin = env!("CARGO_BIN_EXE_engine-slots");
    let text = Command::new(bin)
        .args(["inspect", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("tickets: 62 free, 1 pending, 1 active, 0 in flight"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("engine-a"))
        .expect(&text);
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1..6], ["UNHLTHY", "-", "3", "1", "1"], "{row}");
    let json = Command::new(bin)
        .args(["inspect", path.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let json = String::from_utf8(json.stdout).unwrap();
    assert!(json.contains("\"key\":\"quote\\\"key\""), "{json}");
    assert!(json.contains("\"user\":65261}"), "{json}");
    assert!(
        json.contains("\"tickets\":{\"free\":62,\"pending\":1,\"active\":1,\"in_flight\":0}"),
        "{json}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "inspect changed the file"
    );
    let bad = Command::new(bin).args(["inspect"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    drop(t);
    Table::unlink_shared(&path).unwrap();
}

#[test]
fn another_pid_namespace_cannot_use_the_table() {
    // From another PID namespace a live holder's pid means nothing, so its
    // tickets could be taken as a dead process's: such an opener is refused.
    let probe = Command::new("unshare")
        .args(["-p", "-f", "--mount-proc", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: unshare -p is not available here");
        return;
    }
    let path = temp("ns.table");
    let t = Table::open_shared(&path, Some(&cfg())).unwrap();
    t.add_engine(b"e", 1).unwrap();
    let out = Command::new("unshare")
        .args(["-p", "-f", "--mount-proc"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("ES_SHM_ROLE", "opener")
        .env("ES_SHM_PATH", &path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("REFUSED Io({})", libc::EXDEV)),
        "{text}"
    );
    // The same opener in our namespace is welcome.
    let same = output_lines(spawn("opener", &path, &[]));
    assert!(same.iter().any(|l| l == "OPENED"), "{same:?}");
    drop(t);
    Table::unlink_shared(&path).unwrap();
}

#[test]
fn release_as_external_in_a_shared_table() {
    // The descriptor path of shared tables moves the unit to external load
    // in one step, like the in-process path.
    let path = temp("as-external");
    let t = Table::open_shared(&path, Some(&cfg())).unwrap();
    let e = t.add_engine(b"e", 2).unwrap();
    t.set_external(e, 1).unwrap();
    let a = t.reserve_on(e).unwrap().unwrap().ticket;
    t.commit(a).unwrap();
    t.release_as_external(a).unwrap();
    let s = t.engine_stats(e).unwrap();
    assert_eq!((s.active, s.pending, s.external), (0, 0, 2));
    assert_eq!(t.reserve_on(e).unwrap(), None, "the unit is still counted");
    assert_eq!(t.release_as_external(a), Err(Error::Stale));
    t.set_external(e, 1).unwrap();
    assert!(t.reserve_on(e).unwrap().is_some());
    let c = t.ticket_counts();
    assert_eq!(c.in_flight, 0);
    drop(t);
    Table::unlink_shared(&path).unwrap();
}
