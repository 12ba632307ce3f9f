//! A shared table in a file: run it, then look at the table with
//! `engine-slots inspect`. Run it again: the first run's tickets belonged to
//! a process that is gone, and the second run wins them back.
//!
//! ```text
//! cargo run --release --example shared -- /tmp/engine-slots-demo.table
//! cargo run --release --bin engine-slots -- inspect /tmp/engine-slots-demo.table
//! ```

use engine_slots::{Config, Error, Policy, Table};

fn main() -> Result<(), Error> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/engine-slots-demo.table".into());
    let config = Config {
        max_engines: 8,
        max_tickets: 64,
        default_capacity: 2,
        pending_lease_ms: 5_000,
        active_lease_ms: 0,
        policy: Policy::LeastLoaded,
    };
    let table = Table::open_shared(&path, Some(&config))?;
    let back = table.reclaim_expired();
    if back > 0 {
        println!("won back {back} tickets of processes that are gone");
    }
    for (key, capacity) in [("engine-a", 3), ("engine-b", 2), ("engine-c", 2)] {
        match table.add_engine(key.as_bytes(), capacity) {
            Ok(_) | Err(Error::Exists) => {}
            Err(e) => return Err(e),
        }
    }
    let b = table.find_engine(b"engine-b")?;
    table.set_healthy(b, false)?;
    table.set_external(b, 1)?;
    // Three streams running, one still starting; then exit without giving
    // any of them back, as a crashing process would.
    for i in 0..4 {
        if let Some(r) = table.reserve()? {
            if i < 3 {
                table.commit(r.ticket)?;
            }
        }
    }
    println!(
        "{path}: 3 active + 1 pending held by pid {}",
        std::process::id()
    );
    Ok(())
}
