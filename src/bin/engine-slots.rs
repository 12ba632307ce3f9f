//! `engine-slots inspect PATH [--watch SECONDS] [--json]`
//!
//! Prints a shared table's config, every engine and the tickets by state.
//! The file is opened and mapped read-only: inspecting never changes it.

use engine_slots::{EngineStats, SharedView};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: engine-slots inspect PATH [--watch SECONDS] [--json]";

struct Args {
    path: String,
    watch: Option<f64>,
    json: bool,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    if it.next().as_deref() != Some("inspect") {
        return Err(USAGE.into());
    }
    let (mut path, mut watch, mut json) = (None, None, false);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--watch" => {
                let v = it.next().ok_or("--watch needs SECONDS")?;
                let s: f64 = v.parse().map_err(|_| format!("bad --watch value {v:?}"))?;
                if !(s > 0.0 && s < 86_400.0) {
                    return Err(format!("--watch must be in (0, 86400) seconds, not {v}"));
                }
                watch = Some(s);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            _ if path.is_none() && !a.starts_with("--") => path = Some(a),
            _ => return Err(format!("unexpected argument {a:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        path: path.ok_or(USAGE)?,
        watch,
        json,
    })
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn render_json(v: &SharedView, engines: &[EngineStats]) -> String {
    let c = v.config();
    let t = v.ticket_counts();
    let mut o = format!(
        "{{\"config\":{{\"max_engines\":{},\"max_tickets\":{},\"default_capacity\":{},\
         \"pending_lease_ms\":{},\"active_lease_ms\":{},\"policy\":\"{:?}\"}},\
         \"tickets\":{{\"free\":{},\"pending\":{},\"active\":{},\"in_flight\":{}}},\"engines\":[",
        c.max_engines,
        c.max_tickets,
        c.default_capacity,
        c.pending_lease_ms,
        c.active_lease_ms,
        c.policy,
        t.free,
        t.pending,
        t.active,
        t.in_flight
    );
    for (i, e) in engines.iter().enumerate() {
        let _ = write!(
            o,
            "{}{{\"key\":{},\"healthy\":{},\"draining\":{},\"capacity\":{},\"active\":{},\
             \"pending\":{},\"external\":{},\"priority\":{},\"reserved_total\":{},\"expired_total\":{},\"user\":{}}}",
            if i == 0 { "" } else { "," },
            json_str(&e.key_lossy()),
            e.healthy,
            e.draining,
            e.capacity,
            e.active,
            e.pending,
            e.external,
            e.priority,
            e.reserved_total,
            e.expired_total,
            e.user
        );
    }
    o.push_str("]}");
    o
}

fn render_text(path: &str, v: &SharedView, engines: &[EngineStats]) -> String {
    let c = v.config();
    let t = v.ticket_counts();
    let mut o = format!(
        "table {path} ({} bytes)\n  engines {} max, tickets {} max, default capacity {}, \
         pending lease {} ms, active lease {} ms, policy {:?}\n  tickets: {} free, {} pending, {} active, {} in flight\n\n",
        v.memory_size(),
        c.max_engines,
        c.max_tickets,
        c.default_capacity,
        c.pending_lease_ms,
        c.active_lease_ms,
        c.policy,
        t.free,
        t.pending,
        t.active,
        t.in_flight
    );
    let _ = writeln!(
        o,
        "{:<24} {:>7} {:>5} {:>4} {:>6} {:>7} {:>8} {:>5} {:>10} {:>8}",
        "key",
        "health",
        "drain",
        "cap",
        "active",
        "pending",
        "external",
        "prio",
        "reserved",
        "expired"
    );
    for e in engines {
        let _ = writeln!(
            o,
            "{:<24} {:>7} {:>5} {:>4} {:>6} {:>7} {:>8} {:>5} {:>10} {:>8}",
            e.key_lossy(),
            if e.healthy { "ok" } else { "UNHLTHY" },
            if e.draining { "yes" } else { "-" },
            e.capacity,
            e.active,
            e.pending,
            e.external,
            e.priority,
            e.reserved_total,
            e.expired_total
        );
    }
    if engines.is_empty() {
        o.push_str("(no engines)\n");
    }
    o
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let view = match SharedView::open(&args.path) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("engine-slots: {}: {e}", args.path);
            return ExitCode::from(1);
        }
    };
    loop {
        let engines = view.snapshot();
        let out = if args.json {
            render_json(&view, &engines)
        } else {
            render_text(&args.path, &view, &engines)
        };
        match args.watch {
            // Clear the screen and redraw in place.
            Some(_) if !args.json => print!("\x1b[H\x1b[2J{out}"),
            _ => println!("{out}"),
        }
        let Some(s) = args.watch else {
            return ExitCode::SUCCESS;
        };
        std::thread::sleep(Duration::from_secs_f64(s));
    }
}
