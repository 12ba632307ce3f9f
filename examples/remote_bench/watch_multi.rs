//! The usual alternative to a server-side function: the client reads the
//! loads, picks, and writes back under optimistic locking
//! (`WATCH` / `HGETALL` / `MULTI HINCRBY HSET EXEC`), retrying when another
//! client changed the loads in between. Exact admission too, but at least
//! three round trips per reservation, and retries under contention.
//!
//! Keys: `alt:{name}:load` (hash engine -> load), `alt:{name}:tk` (hash
//! ticket -> engine, `P`/`A`), `alt:{name}:seq` (ticket counter).

use redis::{Commands, Connection, Value};

/// One client of the alternative scheme (one connection).
pub struct WatchMulti {
    conn: Connection,
    load: String,
    tickets: String,
    seq: String,
    capacity: i64,
    /// `EXEC` aborted by a concurrent change (retries).
    pub retries: u64,
}

impl WatchMulti {
    /// Creates `engines` engines of `capacity` (idempotent across clients).
    pub fn setup(url: &str, name: &str, engines: usize) -> redis::RedisResult<()> {
        let mut c = redis::Client::open(url)?.get_connection()?;
        let load = format!("alt:{{{name}}}:load");
        let _: () = redis::cmd("DEL")
            .arg(&load)
            .arg(format!("alt:{{{name}}}:tk"))
            .arg(format!("alt:{{{name}}}:seq"))
            .query(&mut c)?;
        for i in 0..engines {
            let _: () = c.hset(&load, format!("engine-{i}"), 0)?;
        }
        Ok(())
    }

    pub fn connect(url: &str, name: &str, capacity: i64) -> redis::RedisResult<WatchMulti> {
        Ok(WatchMulti {
            conn: redis::Client::open(url)?.get_connection()?,
            load: format!("alt:{{{name}}}:load"),
            tickets: format!("alt:{{{name}}}:tk"),
            seq: format!("alt:{{{name}}}:seq"),
            capacity,
            retries: 0,
        })
    }

    /// Reserves on the least-loaded engine with room: `(ticket, engine)`.
    pub fn reserve(&mut self) -> redis::RedisResult<Option<(i64, String)>> {
        // A ticket id first (one round trip; a counter is fine here, the
        // alternative has no failover story).
        let ticket: i64 = self.conn.incr(&self.seq, 1)?;
        loop {
            let _: () = redis::cmd("WATCH").arg(&self.load).query(&mut self.conn)?;
            let loads: Vec<(String, i64)> = self.conn.hgetall(&self.load)?;
            let Some((engine, _)) = loads
                .into_iter()
                .filter(|(_, l)| *l < self.capacity)
                .min_by_key(|(_, l)| *l)
            else {
                let _: () = redis::cmd("UNWATCH").query(&mut self.conn)?;
                return Ok(None);
            };
            let r: Value = redis::pipe()
                .atomic()
                .hincr(&self.load, &engine, 1)
                .hset(&self.tickets, ticket, format!("P {engine}"))
                .query(&mut self.conn)?;
            if r != Value::Nil {
                return Ok(Some((ticket, engine)));
            }
            self.retries += 1;
        }
    }

    /// Pending -> active (one round trip).
    pub fn commit(&mut self, ticket: i64, engine: &str) -> redis::RedisResult<()> {
        self.conn.hset(&self.tickets, ticket, format!("A {engine}"))
    }

    /// Gives the slot back (one round trip, both writes in one MULTI).
    pub fn release(&mut self, ticket: i64, engine: &str) -> redis::RedisResult<()> {
        redis::pipe()
            .atomic()
            .hincr(&self.load, engine, -1)
            .hdel(&self.tickets, ticket)
            .query(&mut self.conn)
    }
}
