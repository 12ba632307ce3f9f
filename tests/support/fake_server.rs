//! A fake RESP server for failures a real one cannot stage: an old server,
//! one that never answers, one that answers garbage.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

/// What the fake answers to a command (its words); `None`: never answer.
pub type Script = dyn Fn(&[Vec<u8>]) -> Option<Vec<u8>> + Send + Sync;

pub struct FakeServer {
    pub port: u16,
}

impl FakeServer {
    pub fn start(script: Arc<Script>) -> FakeServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let script = Arc::clone(&script);
                std::thread::spawn(move || serve(s, &*script));
            }
        });
        FakeServer { port }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

fn serve(s: TcpStream, script: &Script) {
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    loop {
        let Some(words) = read_command(&mut r) else {
            return;
        };
        match script(&words) {
            Some(reply) => {
                if w.write_all(&reply).is_err() {
                    return;
                }
            }
            // Hang: keep the connection open, never answer.
            None => std::thread::sleep(std::time::Duration::from_secs(3600)),
        }
    }
}

fn read_command(r: &mut BufReader<TcpStream>) -> Option<Vec<Vec<u8>>> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let n: usize = line.trim().strip_prefix('*')?.parse().ok()?;
    let mut words = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        r.read_line(&mut line).ok()?;
        let len: usize = line.trim().strip_prefix('$')?.parse().ok()?;
        let mut buf = vec![0u8; len + 2];
        r.read_exact(&mut buf).ok()?;
        buf.truncate(len);
        words.push(buf);
    }
    Some(words)
}

/// A RESP bulk string.
pub fn bulk(s: &str) -> Vec<u8> {
    format!("${}\r\n{s}\r\n", s.len()).into_bytes()
}
