//! A `redis-server` of one test: a free localhost port, no persistence,
//! killed when dropped (also on a panic, by unwinding) and, through
//! `PR_SET_PDEATHSIG`, when the thread that started it dies without
//! unwinding (the test process killed).
//!
//! Tests that need a server call [`RedisServer::start_or_skip`]: without a
//! `redis-server` binary they print a loud SKIPPED line and pass, unless
//! `ES_REQUIRE_REDIS=1` (as `make test` sets), where they fail.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    extra: Vec<String>,
}

/// The `redis-server` binary: `$REDIS_SERVER`, else the one on `PATH`.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REDIS_SERVER") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("redis-server"))
            .find(|p| p.is_file())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free localhost port")
}

impl RedisServer {
    /// A fresh server, or `None` (after a loud message) when there is no
    /// `redis-server` and `ES_REQUIRE_REDIS` is not `1`.
    pub fn start_or_skip(test: &str) -> Option<RedisServer> {
        Self::start_with_or_skip(test, &[])
    }

    /// As [`RedisServer::start_or_skip`], with extra server arguments
    /// (`["--requirepass", "pw"]`, ...).
    pub fn start_with_or_skip(test: &str, extra: &[&str]) -> Option<RedisServer> {
        if binary().is_none() {
            if std::env::var("ES_REQUIRE_REDIS").as_deref() == Ok("1") {
                panic!("{test}: redis-server is required (ES_REQUIRE_REDIS=1) but not found");
            }
            // Straight to stderr, past the test harness's capture: loud.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "*** SKIPPED {test}: no redis-server on PATH (apt-get install redis-server) ***"
            );
            return None;
        }
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for _ in 0..10 {
            let port = free_port();
            let mut s = RedisServer {
                child: None,
                port,
                extra: extra.clone(),
            };
            if s.launch() {
                return Some(s);
            }
        }
        panic!("{test}: could not start redis-server");
    }

    /// Starts the server process on `self.port`; `false` if it did not
    /// come up (the port was taken meanwhile).
    fn launch(&mut self) -> bool {
        let mut cmd = Command::new(binary().expect("redis-server"));
        // A config file (a Sentinel's) must be the first argument.
        let (file, extra) = match self.extra.first() {
            Some(f) if !f.starts_with("--") => (Some(f), &self.extra[1..]),
            _ => (None, &self.extra[..]),
        };
        cmd.args(file)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                "",
            ]);
        if !extra.iter().any(|a| a == "--sentinel") {
            cmd.args(["--save", "", "--appendonly", "no"]);
        }
        cmd.args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; nothing else runs between
        // fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("spawn redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if self.ping() {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 64];
        // Any answer (even NOAUTH) means it is up.
        s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| n > 0)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A plain client connection (for setting up garbage, inspecting keys).
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap()
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the server and starts a fresh one (empty: no persistence) on
    /// the same port.
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            if self.launch() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("could not restart redis-server on port {}", self.port);
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) the server: a hung server.
    pub fn pause(&self, paused: bool) {
        if let Some(c) = &self.child {
            let sig = if paused { libc::SIGSTOP } else { libc::SIGCONT };
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as libc::pid_t, sig) };
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.pause(false);
        self.kill();
    }
}
