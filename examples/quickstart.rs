//! Quick start: a table, two engines, one stream's life cycle, the stats.
//!
//! Run: `cargo run --release --example quickstart`

use engine_slots::{Config, Error, Policy, Table};

fn main() -> Result<(), Error> {
    // Sized once: no allocation or lock on the reserve/commit/release path.
    let table = Table::new(Config {
        max_engines: 64,
        max_tickets: 4096,
        default_capacity: 2,     // used when an engine is added with capacity 0
        pending_lease_ms: 5_000, // a reservation never committed is won back after 5 s
        active_lease_ms: 0,      // committed streams live until released
        policy: Policy::LeastLoaded,
    })?;
    table.add_engine(b"engine-15", 0)?; // capacity 0: the default, 2
    table.add_engine(b"engine-16", 3)?;

    // A request arrives: pick an engine and count the stream on it, atomically.
    let Some(r) = table.reserve()? else {
        println!("no engine has room");
        return Ok(());
    };
    let key = table.engine_stats(r.engine)?.key_lossy().into_owned();
    println!("reserved a slot on {key}");

    // ... start the stream on that engine; if starting fails: table.cancel(r.ticket)
    table.commit(r.ticket)?; // the stream runs
    print_stats(&table);

    table.release(r.ticket)?; // the client left
    assert_eq!(table.release(r.ticket), Err(Error::Stale)); // exactly once
    print_stats(&table);
    Ok(())
}

fn print_stats(table: &Table) {
    for s in table.snapshot() {
        println!(
            "  {:<10} capacity {}  active {}  pending {}  reserved so far {}",
            s.key_lossy(),
            s.capacity,
            s.active,
            s.pending,
            s.reserved_total
        );
    }
}
