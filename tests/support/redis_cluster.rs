//! A throw-away replicated Redis on localhost: one primary, replicas, and
//! optionally one Sentinel, each a [`RedisServer`] (killed when dropped,
//! even on a panic), in a temporary directory removed when dropped.

use super::redis_server::RedisServer;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The master name the Sentinel monitors.
pub const MASTER: &str = "mymaster";

pub struct RedisCluster {
    pub primary: RedisServer,
    pub replicas: Vec<RedisServer>,
    pub sentinel: Option<RedisServer>,
    dir: PathBuf,
}

/// Runs `cmd` on the server at `port` (a fresh connection, 5 s timeout).
pub fn ask<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut c = c.get_connection_with_timeout(Duration::from_secs(5))?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    cmd.query(&mut c)
}

/// A field of `INFO replication` on the server at `port`.
pub fn replication_field(port: u16, field: &str) -> Option<String> {
    let info: String = ask(port, redis::cmd("INFO").arg("replication")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

/// Polls `f` every 20 ms until it is true; panics with `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

impl RedisCluster {
    /// A primary with `replicas` replicas in sync and, with `sentinel`, one
    /// Sentinel (quorum 1, down after 1 s) that knows them all; `None`
    /// (after a loud message) without `redis-server`, as
    /// [`RedisServer::start_or_skip`].
    pub fn start_or_skip(test: &str, replicas: usize, sentinel: bool) -> Option<RedisCluster> {
        // Every server works in a directory of its own in `dir` (a replica
        // writes the snapshot it syncs from; a Sentinel rewrites its config).
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "es-cluster-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let base = dir.clone();
        let sub = move |name: &str| {
            let d = base.join(name);
            std::fs::create_dir_all(&d).unwrap();
            d.to_str().unwrap().to_string()
        };
        // No 5 s wait for more replicas before a sync (the default).
        let primary = RedisServer::start_with_or_skip(
            test,
            &["--dir", &sub("primary"), "--repl-diskless-sync-delay", "0"],
        )?;
        let p = primary.port.to_string();
        let replicas: Vec<RedisServer> = (0..replicas)
            .map(|i| {
                let d = sub(&format!("replica{i}"));
                RedisServer::start_with_or_skip(
                    test,
                    &["--replicaof", "127.0.0.1", &p, "--dir", &d],
                )
                .expect("redis-server")
            })
            .collect();
        let mut c = RedisCluster {
            primary,
            replicas,
            sentinel: None,
            dir,
        };
        c.wait_synced(Duration::from_secs(30));
        if sentinel {
            let sdir = sub("sentinel");
            let conf = c.dir.join("sentinel").join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "sentinel monitor {MASTER} 127.0.0.1 {p} 1\n\
                     sentinel down-after-milliseconds {MASTER} 1000\n\
                     sentinel failover-timeout {MASTER} 10000\n\
                     sentinel parallel-syncs {MASTER} 4\n"
                ),
            )
            .unwrap();
            let s = RedisServer::start_with_or_skip(
                test,
                &[conf.to_str().unwrap(), "--sentinel", "--dir", &sdir],
            )
            .expect("redis-server --sentinel");
            let (port, n) = (s.port, c.replicas.len());
            c.sentinel = Some(s);
            wait_until(
                "the Sentinel knows every replica",
                Duration::from_secs(30),
                || {
                    ask::<Vec<redis::Value>>(
                        port,
                        redis::cmd("SENTINEL").arg("replicas").arg(MASTER),
                    )
                    .is_ok_and(|r| r.len() == n)
                },
            );
        }
        Some(c)
    }

    /// Waits until every replica's link to the primary is up.
    pub fn wait_synced(&self, limit: Duration) {
        for r in &self.replicas {
            wait_until("a replica in sync", limit, || {
                replication_field(r.port, "master_link_status").as_deref() == Some("up")
            });
        }
    }

    /// `redis+sentinel://` URL of the master (no parameters).
    pub fn sentinel_url(&self) -> String {
        let s = self.sentinel.as_ref().expect("a Sentinel");
        format!("redis+sentinel://127.0.0.1:{}/{MASTER}", s.port)
    }

    /// The port the Sentinel names as the primary now.
    pub fn primary_named(&self) -> Option<u16> {
        let s = self.sentinel.as_ref()?;
        let a: Option<(String, u16)> = ask(
            s.port,
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(MASTER),
        )
        .ok()?;
        a.map(|(_, port)| port)
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        // The servers stop themselves (RedisServer's Drop); then the files.
        self.sentinel.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
