//! The session of an open remote table: a random id whose deadline on the
//! server (`:sess`, server time) one background thread renews.
//!
//! Each ticket records the session that reserved it. When a session's
//! deadline passes (its process died, hung, or lost the server for longer
//! than `session_ms`), the next reclaim (`es_reserve` with no room,
//! `es_reclaim_expired`) takes its tickets back, as a shared table does for
//! a dead process. Every reservation renews the session too.
//!
//! The thread renews every `session_ms / 3`, so one or two lost renewals
//! never end a live session. It stops (and the session is closed if it
//! holds no ticket) when the table is dropped; dropping waits for a renewal
//! in flight and the close, each bounded by `timeout_ms` (no close when the
//! last renewal got no answer).

use super::core::Core;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The renewing thread; stopping it is dropping it.
pub(crate) struct Heartbeat {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// Starts renewing `core`'s session.
    pub(crate) fn start(core: Arc<Core>) -> std::io::Result<Heartbeat> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let period = Duration::from_millis((core.session_ms() / 3).max(10) as u64);
        let thread = std::thread::Builder::new()
            .name("es-session".into())
            .spawn(move || {
                let (lock, cv) = &*flag;
                let mut reachable = true;
                let mut stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    // The flag is checked before waiting: a stop that came
                    // before this thread first waited is not missed.
                    let (s, _) = cv
                        .wait_timeout_while(stopped, period, |stop| !*stop)
                        .unwrap_or_else(|p| p.into_inner());
                    stopped = s;
                    if *stopped {
                        break;
                    }
                    drop(stopped);
                    // A failed renewal is retried at the next period; the
                    // session survives two in a row.
                    reachable = !matches!(core.renew(), Err(crate::Error::Io(_)));
                    stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                }
                drop(stopped);
                // Closing a server that did not answer the last renewal
                // would only wait out another timeout.
                if reachable {
                    let _ = core.close();
                }
            })?;
        Ok(Heartbeat {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
