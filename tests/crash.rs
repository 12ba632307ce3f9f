//! Processes killed anywhere, even inside a call, lose nothing: the kill
//! loop, the multi-process chaos run, and the sweeper killed mid-sweep.
//!
//! The test binary re-executes itself (`crash_child` with `ES_CRASH_ROLE`
//! set) for its child processes. Knobs: `ES_KILLS` (kill loop, default 240),
//! `ES_CHAOS_SECS` (chaos run, default 10; `make soak` runs it longer).

use engine_slots::{Config, Engine, Error, Policy, Table, Ticket};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("es-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: enough randomness for kill moments and operation mixes.
struct Rng(u64);
impl Rng {
    fn seeded() -> Rng {
        let t = engine_slots::monotonic_ns() ^ ((std::process::id() as u64) << 32);
        Rng(t | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn spawn(role: &str, path: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("ES_CRASH_ROLE", role)
        .env("ES_CRASH_PATH", path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads lines from a child until one starts with `prefix`.
fn wait_line(out: &mut BufReader<ChildStdout>, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child exited before {prefix}"
        );
        if line.starts_with(prefix) {
            return line.trim().to_owned();
        }
    }
}

/// Spawns `role` and waits until it has opened the table.
fn spawn_ready(role: &str, path: &Path) -> (Child, BufReader<ChildStdout>) {
    let mut c = spawn(role, path);
    let mut out = BufReader::new(c.stdout.take().unwrap());
    wait_line(&mut out, "READY");
    (c, out)
}

/// SIGKILLs `c` and checks it did not die on its own before (a failed
/// assertion in the child).
fn kill(mut c: Child) {
    if let Some(st) = c.try_wait().unwrap() {
        panic!("child exited on its own: {st:?}");
    }
    c.kill().unwrap();
    let st = c.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert!(
        st.signal() == Some(libc::SIGKILL) || st.success(),
        "child failed: {st:?}"
    );
}

fn signal(c: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(c.id() as libc::pid_t, sig) }, 0);
}

/// One life of a cycling process: reserve, commit, touch, cancel, release
/// at random, holding up to three tickets, and sweeping now and then (not
/// often: a forced sweep reads `/proc`, and kills should land in the cycle).
fn cycle_forever(t: &Table, engines: &[Engine]) -> ! {
    let mut rng = Rng::seeded();
    let mut held: Vec<(Ticket, bool)> = Vec::new();
    for n in 0u64.. {
        match rng.below(8) {
            0 | 1 if held.len() < 3 => {
                let r = if rng.below(2) == 0 {
                    t.reserve()
                } else {
                    t.reserve_on(engines[rng.below(engines.len() as u64) as usize])
                };
                if let Some(r) = r.unwrap() {
                    held.push((r.ticket, false));
                }
            }
            2 | 3 => {
                if let Some(i) = held.iter().position(|h| !h.1) {
                    t.commit(held[i].0).unwrap();
                    held[i].1 = true;
                }
            }
            4 => {
                if let Some(i) = held.iter().position(|h| !h.1) {
                    t.cancel(held.swap_remove(i).0).unwrap();
                }
            }
            5 => {
                if let Some(i) = held.iter().position(|h| h.1) {
                    t.touch(held[i].0).unwrap();
                }
            }
            _ => {
                if let Some(i) = held.iter().position(|h| h.1) {
                    t.release(held.swap_remove(i).0).unwrap();
                }
            }
        }
        if n % 997 == 0 {
            t.reclaim_expired();
        }
    }
    unreachable!()
}

/// Entry point of the child processes (a no-op in a normal test run).
#[test]
fn crash_child() {
    let Ok(role) = std::env::var("ES_CRASH_ROLE") else {
        return;
    };
    let path = PathBuf::from(std::env::var("ES_CRASH_PATH").unwrap());
    let t = Table::open_shared(&path, None).unwrap();
    let engines: Vec<Engine> = t.snapshot().iter().map(|s| s.engine).collect();
    println!("READY");
    match role.as_str() {
        "cycler" => cycle_forever(&t, &engines),
        "reclaimer" => loop {
            t.reclaim_expired();
        },
        "chaos" => chaos_worker(&t, &engines),
        "sleeper" => sleeper(&t),
        other => panic!("unknown role {other}"),
    }
}

/// Every count and every slot is back.
fn assert_all_back(t: &Table, what: &str) {
    for s in t.snapshot() {
        assert_eq!(
            (s.active, s.pending),
            (0, 0),
            "{what}: engine {} kept counts",
            s.key_lossy()
        );
    }
    let c = t.ticket_counts();
    assert_eq!(
        (c.pending, c.active, c.in_flight, c.free),
        (0, 0, 0, t.config().max_tickets),
        "{what}: tickets left behind"
    );
}

fn kill_loop_config() -> Config {
    Config {
        max_engines: 4,
        max_tickets: 64,
        default_capacity: 3,
        // No leases: only the holder scan can give anything back.
        pending_lease_ms: 0,
        active_lease_ms: 0,
        policy: Policy::LeastLoaded,
    }
}

#[test]
fn killed_anywhere_loses_nothing() {
    let kills = env_num("ES_KILLS", 240);
    let path = temp("kill-loop.table");
    let t = Table::open_shared(&path, Some(&kill_loop_config())).unwrap();
    for i in 0..4 {
        t.add_engine(format!("e{i}").as_bytes(), 0).unwrap();
    }
    let mut rng = Rng::seeded();
    let (mut done, mut reclaimers, mut recovered) = (0u64, 0u64, 0u64);
    // What the dead left mid-way: slots in flight, and engine counts that
    // no ticket accounts for (a move whose ticket step had not happened).
    let (mut in_flight, mut unaccounted) = (0u64, 0u64);
    let start = Instant::now();
    while done < kills {
        let (cycler, _out) = spawn_ready("cycler", &path);
        // Every third round a reclaimer sweeps at the same time, and is
        // killed too: inside a sweep, most likely with the lease held.
        let reclaimer = (done % 3 == 0).then(|| spawn_ready("reclaimer", &path));
        std::thread::sleep(Duration::from_micros(rng.below(3_000)));
        if let Some((r, _)) = reclaimer {
            if rng.below(2) == 0 {
                // Parked inside its reclaim for a while, then killed.
                signal(&r, libc::SIGSTOP);
                std::thread::sleep(Duration::from_micros(rng.below(500)));
            }
            kill(r);
            reclaimers += 1;
            done += 1;
        }
        kill(cycler);
        done += 1;
        let c = t.ticket_counts();
        assert_eq!(
            c.free + c.pending + c.active + c.in_flight,
            t.config().max_tickets,
            "every slot is accounted for, even mid-way"
        );
        in_flight += c.in_flight as u64;
        let counted: u64 = t
            .snapshot()
            .iter()
            .map(|s| (s.active + s.pending) as u64)
            .sum();
        unaccounted += counted.abs_diff((c.pending + c.active) as u64);
        recovered += t.reclaim_expired() as u64;
        assert_all_back(&t, &format!("after kill {done}"));
    }
    println!(
        "kill loop: {done} SIGKILLs ({reclaimers} of sweepers) in {:.1} s; the dead left \
         {in_flight} slots in flight and {unaccounted} engine counts no ticket accounted for; \
         {recovered} tickets reclaimed; after each reclaim: 0 engine counts, 0 stuck tickets, \
         0 lost slots",
        start.elapsed().as_secs_f64()
    );
    drop(t);
    Table::unlink_shared(&path).unwrap();
}

/// The sweep lease word, read straight from the file (layout v5: offset 256).
fn lease_held(path: &Path) -> bool {
    let mut f = std::fs::File::open(path).unwrap();
    let mut b = [0u8; 264];
    f.read_exact(&mut b).unwrap();
    u64::from_ne_bytes(b[256..264].try_into().unwrap()) >> 63 == 1
}

#[test]
fn a_sweeper_killed_mid_sweep_costs_refused_reserves_nothing() {
    let path = temp("sweeper.table");
    let cfg = Config {
        max_engines: 2,
        // Big enough that a sweep takes milliseconds.
        max_tickets: 1 << 18,
        default_capacity: 1,
        pending_lease_ms: 60_000,
        active_lease_ms: 60_000,
        policy: Policy::LeastLoaded,
    };
    let t = Table::open_shared(&path, Some(&cfg)).unwrap();
    t.add_engine(b"only", 1).unwrap();
    let full = t.reserve().unwrap().unwrap();
    t.commit(full.ticket).unwrap();
    // Kill a sweeper while it holds the sweep lease.
    for attempt in 0.. {
        assert!(attempt < 20, "never caught the sweeper inside a sweep");
        let (c, _out) = spawn_ready("reclaimer", &path);
        std::thread::sleep(Duration::from_millis(30));
        signal(&c, libc::SIGSTOP);
        let held = lease_held(&path);
        kill(c);
        if held {
            break;
        }
    }
    assert!(lease_held(&path), "the dead sweeper's lease is still there");
    let refused = |n: u32| {
        let before = t.full_sweeps();
        let start = Instant::now();
        for _ in 0..n {
            assert_eq!(t.reserve().unwrap(), None);
        }
        (t.full_sweeps() - before, start.elapsed() / n)
    };
    // The first refusal takes the lease over (the sweeper is dead) and
    // sweeps once; nothing after it sweeps again.
    let (first, _) = refused(1);
    assert!(first <= 1, "{first} sweeps for one refusal");
    assert!(
        !lease_held(&path),
        "the lease was taken over and given back"
    );
    let (later, per_call) = refused(1_000);
    assert_eq!(later, 0, "refused reserves swept {later} times");
    println!("refused reserve after a dead sweeper: {per_call:?} per call, 0 full sweeps");
    t.release(full.ticket).unwrap();
    drop(t);
    Table::unlink_shared(&path).unwrap();
}

// ------------------------------------------------------------------ chaos

const CHAOS_CAPACITY: u32 = 3;
const CHAOS_EXTERNAL: u32 = 1;
const PENDING_LEASE_MS: u32 = 200;
const ACTIVE_LEASE_MS: u32 = 400;

fn chaos_config() -> Config {
    Config {
        max_engines: 4,
        max_tickets: 48,
        default_capacity: CHAOS_CAPACITY,
        pending_lease_ms: PENDING_LEASE_MS,
        active_lease_ms: ACTIVE_LEASE_MS,
        policy: Policy::LeastLoaded,
    }
}

/// A chaos worker: streams that start, live a little (touched), and end.
fn chaos_worker(t: &Table, engines: &[Engine]) -> ! {
    let mut rng = Rng::seeded();
    let mut held: Vec<(Ticket, bool, Instant)> = Vec::new();
    loop {
        let now = Instant::now();
        match rng.below(6) {
            0 | 1 if held.len() < 4 => {
                let r = match rng.below(3) {
                    0 => t.reserve_on(engines[rng.below(engines.len() as u64) as usize]),
                    _ => t.reserve(),
                };
                if let Ok(Some(r)) = r {
                    held.push((r.ticket, false, now));
                }
            }
            2 => {
                if let Some(i) = held.iter().position(|h| !h.1) {
                    match t.commit(held[i].0) {
                        Ok(()) => held[i].1 = true,
                        Err(Error::Stale) => drop(held.swap_remove(i)),
                        Err(e) => panic!("commit: {e:?}"),
                    }
                }
            }
            3 => {
                if let Some(i) = held.iter().position(|h| !h.1) {
                    let r = t.cancel(held.swap_remove(i).0);
                    assert!(matches!(r, Ok(()) | Err(Error::Stale)), "cancel: {r:?}");
                }
            }
            _ => {
                if let Some(i) = held.iter().position(|h| h.1) {
                    let r = if now.duration_since(held[i].2) > Duration::from_millis(40) {
                        t.release(held.swap_remove(i).0)
                    } else {
                        t.touch(held[i].0)
                    };
                    assert!(
                        matches!(r, Ok(()) | Err(Error::Stale)),
                        "release/touch: {r:?}"
                    );
                }
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(300)));
    }
}

/// Holds one committed stream and touches it; once it finds it slept past
/// its lease (SIGSTOP), every later call on the ticket must be `Stale`.
fn sleeper(t: &Table) -> ! {
    let r = loop {
        if let Some(r) = t.reserve().unwrap() {
            break r;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    t.commit(r.ticket).unwrap();
    println!("HELD");
    let mut last = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(10));
        match t.touch(r.ticket) {
            Ok(()) => last = Instant::now(),
            Err(Error::Stale) => {
                // Only after sleeping past the lease (SIGSTOP).
                let gap = last.elapsed();
                assert!(
                    gap > Duration::from_millis(ACTIVE_LEASE_MS as u64),
                    "stale after {gap:?}"
                );
                let (b, c) = (t.release(r.ticket), t.cancel(r.ticket));
                assert_eq!((b, c), (Err(Error::Stale), Err(Error::Stale)));
                println!("STALE {}", gap.as_millis());
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            Err(e) => panic!("touch: {e:?}"),
        }
    }
}

#[test]
fn chaos_of_six_processes_keeps_every_engine_within_capacity() {
    let secs = env_num("ES_CHAOS_SECS", 10);
    let path = temp("chaos.table");
    let t = Arc::new(Table::open_shared(&path, Some(&chaos_config())).unwrap());
    for i in 0..4 {
        let e = t.add_engine(format!("c{i}").as_bytes(), 0).unwrap();
        t.set_external(e, CHAOS_EXTERNAL).unwrap();
    }
    // The observer: every engine within capacity, continuously.
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicU64::new(0));
    let observer = {
        let (t, stop, checks) = (t.clone(), stop.clone(), checks.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for s in t.snapshot() {
                    assert!(
                        s.load() <= s.capacity as u64,
                        "engine {} over capacity: {} active + {} pending + {} external > {}",
                        s.key_lossy(),
                        s.active,
                        s.pending,
                        s.external,
                        s.capacity
                    );
                }
                checks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut rng = Rng::seeded();
    let mut workers: Vec<Child> = (0..5).map(|_| spawn_ready("chaos", &path).0).collect();
    let (sleeper, mut sleeper_out) = spawn_ready("sleeper", &path);
    wait_line(&mut sleeper_out, "HELD");
    let end = Instant::now() + Duration::from_secs(secs);
    let stop_at = Instant::now() + Duration::from_secs(secs / 3);
    let mut stopped = false;
    let (mut kills, mut stale_ms) = (0u64, 0u128);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20 + rng.below(150)));
        let i = rng.below(workers.len() as u64) as usize;
        let fresh = spawn_ready("chaos", &path).0;
        kill(std::mem::replace(&mut workers[i], fresh));
        kills += 1;
        if !stopped && Instant::now() > stop_at {
            stopped = true;
            signal(&sleeper, libc::SIGSTOP);
            std::thread::sleep(Duration::from_millis(ACTIVE_LEASE_MS as u64 * 3));
            // Others reserve meanwhile, so the sweep reclaims its ticket.
            t.reclaim_expired();
            signal(&sleeper, libc::SIGCONT);
            let line = wait_line(&mut sleeper_out, "STALE");
            stale_ms = line[6..].parse().unwrap();
        }
    }
    assert!(stopped, "the run was too short to stop the sleeper");
    for w in workers {
        kill(w);
    }
    kill(sleeper);
    stop.store(true, Ordering::Relaxed);
    observer.join().unwrap();
    t.reclaim_expired();
    assert_all_back(&t, "after the chaos run");
    for s in t.snapshot() {
        assert_eq!(s.external, CHAOS_EXTERNAL);
    }
    println!(
        "chaos: {secs} s, 6 processes, {kills} SIGKILLs, sleeper stopped {stale_ms} ms then Stale, \
         {} capacity checks, everything back",
        checks.load(Ordering::Relaxed)
    );
    drop(t);
    Table::unlink_shared(&path).unwrap();
}
