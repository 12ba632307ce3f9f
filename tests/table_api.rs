//! Every operation of the Rust API, and every error it can give, against
//! every backend: in-process, shared (a file) and remote (Redis) tables.

mod support;

use engine_slots::{Config, Engine, Error, Policy, Table, Ticket};
use std::time::Duration;
use support::backends::{Backend, Slots, TestClock};

conformance!(
    full_life_cycle_and_exactly_once,
    garbage_and_foreign_handles_are_stale,
    admission_is_exact_with_external_and_capacity_changes,
    draining_and_removal,
    cancel_of_a_removed_engines_ticket_is_ok,
    ticket_exhaustion_is_table_full,
    no_engines_is_no_capacity,
    pending_lease_reclaims_inside_reserve,
    operations_after_the_deadline_are_expiry,
    leases_of_zero_never_expire,
    least_loaded_order,
    fill_first_fills_one_engine_at_a_time,
    two_choices_finds_the_last_free_slot,
    snapshots,
    touch_of_a_removed_engines_ticket_is_stale,
    handles_of_other_tables_are_always_stale,
    add_with_all_settings_at_once,
    add_or_find_adds_once,
    user_word_is_stored_and_stale_safe,
    reserve_on_key_finds_and_reserves,
    finish_cancels_or_releases_exactly_once,
    keys_up_to_key_max_bytes,
    release_as_external_keeps_the_unit_until_the_next_report,
);

fn cfg(engines: u32, tickets: u32) -> Config {
    Config {
        max_engines: engines,
        max_tickets: tickets,
        default_capacity: 2,
        pending_lease_ms: 0,
        active_lease_ms: 0,
        policy: Policy::LeastLoaded,
    }
}

fn counts(t: &dyn Slots, e: Engine) -> (u32, u32) {
    let s = t.engine_stats(e).unwrap();
    (s.active, s.pending)
}

#[test]
fn snapshot_into_a_buffer() {
    let t = Table::new(cfg(8, 8)).unwrap();
    let a = t.add_engine(b"a", 1).unwrap();
    let b = t.add_engine(b"b", 1).unwrap();
    t.add_engine(b"c", 1).unwrap();
    t.remove_engine(b).unwrap();
    let mut one = [t.snapshot()[0]; 1];
    assert_eq!(t.snapshot_into(&mut one), 2);
    assert_eq!(one[0].engine, a);
    assert_eq!(t.snapshot_into(&mut []), 2);
}

#[test]
fn new_validates_config() {
    assert_eq!(Table::new(cfg(0, 1)).unwrap_err(), Error::Invalid);
    assert_eq!(Table::new(cfg(1, 0)).unwrap_err(), Error::Invalid);
    assert_eq!(
        Table::new(Config {
            default_capacity: 0,
            ..cfg(1, 1)
        })
        .unwrap_err(),
        Error::Invalid
    );
    let t = Table::new(Config {
        pending_lease_ms: u32::MAX,
        active_lease_ms: u32::MAX,
        ..cfg(1, 1)
    })
    .unwrap();
    assert_eq!(t.config().pending_lease_ms, u32::MAX);
    assert!(t.memory_size() > 0);
}

fn full_life_cycle_and_exactly_once(bk: &Backend) {
    let t = bk.table(cfg(2, 8));
    let e = t.add_engine(b"e1", 0).unwrap();
    let r = t.reserve().unwrap().unwrap();
    assert_eq!(r.engine, e);
    assert_eq!(counts(&*t, e), (0, 1));
    assert_eq!(
        t.release(r.ticket),
        Err(Error::Stale),
        "release of a pending ticket"
    );
    assert_eq!(
        t.touch(r.ticket),
        Err(Error::Stale),
        "touch of a pending ticket"
    );
    t.commit(r.ticket).unwrap();
    assert_eq!(counts(&*t, e), (1, 0));
    assert_eq!(t.commit(r.ticket), Err(Error::Stale), "double commit");
    assert_eq!(t.cancel(r.ticket), Err(Error::Stale), "cancel after commit");
    t.touch(r.ticket).unwrap();
    t.release(r.ticket).unwrap();
    assert_eq!(counts(&*t, e), (0, 0));
    for res in [
        t.release(r.ticket),
        t.commit(r.ticket),
        t.cancel(r.ticket),
        t.touch(r.ticket),
    ] {
        assert_eq!(res, Err(Error::Stale));
    }
    let r2 = t.reserve().unwrap().unwrap();
    t.cancel(r2.ticket).unwrap();
    assert_eq!(t.cancel(r2.ticket), Err(Error::Stale));
    assert_eq!(counts(&*t, e), (0, 0));
    let s = t.engine_stats(e).unwrap();
    assert_eq!(s.reserved_total, 2);
    assert_eq!(s.key(), b"e1");
}

fn garbage_and_foreign_handles_are_stale(bk: &Backend) {
    let t = bk.table(cfg(2, 4));
    let other = bk.table(cfg(2, 4));
    let e = t.add_engine(b"a", 1).unwrap();
    let oe = other.add_engine(b"a", 1).unwrap();
    let ot = other.reserve().unwrap().unwrap().ticket;
    for raw in [0u64, 1, u64::MAX, 0xdead_beef_dead_beef, e.raw() ^ 1 << 20] {
        let tk = Ticket::from_raw(raw);
        assert_eq!(t.commit(tk), Err(Error::Stale));
        assert_eq!(t.cancel(tk), Err(Error::Stale));
        assert_eq!(t.release(tk), Err(Error::Stale));
        assert_eq!(t.touch(tk), Err(Error::Stale));
        let en = Engine::from_raw(raw);
        assert_eq!(t.reserve_on(en), Err(Error::Stale));
        assert_eq!(t.engine_stats(en), Err(Error::Stale));
        assert_eq!(t.drain(en), Err(Error::Stale));
    }
    // Handles of another table (with a different random tag) do nothing here.
    if t.engine_stats(oe).is_err() {
        assert_eq!(t.cancel(ot), Err(Error::Stale));
        assert_eq!(t.reserve_on(oe), Err(Error::Stale));
    }
    // An engine handle is not a ticket.
    assert_eq!(t.cancel(Ticket::from_raw(e.raw())), Err(Error::Stale));
    assert_eq!(counts(&*t, e), (0, 0));
    assert_eq!(counts(&*other, oe), (0, 1));
}

fn admission_is_exact_with_external_and_capacity_changes(bk: &Backend) {
    let t = bk.table(cfg(1, 16));
    let e = t.add_engine(b"e", 3).unwrap();
    t.set_external(e, 1).unwrap();
    let a = t.reserve().unwrap().unwrap();
    let b = t.reserve().unwrap().unwrap();
    assert_eq!(t.reserve().unwrap(), None, "1 external + 2 pending = 3");
    t.set_capacity(e, 1).unwrap();
    assert_eq!(counts(&*t, e), (0, 2), "lowering capacity revokes nothing");
    t.commit(a.ticket).unwrap();
    t.cancel(b.ticket).unwrap();
    assert_eq!(t.reserve_on(e).unwrap(), None);
    t.set_external(e, 0).unwrap();
    t.set_capacity(e, 2).unwrap();
    assert!(t.reserve_on(e).unwrap().is_some());
    assert_eq!(t.reserve_on(e).unwrap(), None);
}

fn draining_and_removal(bk: &Backend) {
    let t = bk.table(cfg(2, 16));
    let a = t.add_engine(b"a", 2).unwrap();
    let p = t.reserve_on(a).unwrap().unwrap();
    let q = t.reserve_on(a).unwrap().unwrap();
    t.commit(q.ticket).unwrap();
    t.drain(a).unwrap();
    assert_eq!(t.reserve_on(a).unwrap(), None);
    assert_eq!(t.reserve().unwrap(), None);
    assert!(t.engine_stats(a).unwrap().draining);
    t.remove_engine(a).unwrap();
    // The slot is reused at once by a new engine with the same index.
    let b = t.add_engine(b"b", 1).unwrap();
    let r = t.reserve().unwrap().unwrap();
    assert_eq!(r.engine, b);
    // Old tickets can only be finished and never touch engine b.
    assert_eq!(t.commit(p.ticket), Err(Error::Stale));
    assert_eq!(t.cancel(p.ticket), Err(Error::Stale), "commit finished it");
    assert_eq!(t.release(q.ticket), Ok(()));
    assert_eq!(t.release(q.ticket), Err(Error::Stale));
    assert_eq!(counts(&*t, b), (0, 1));
    let p2 = t.reserve_on(b);
    assert_eq!(p2.unwrap(), None);
    t.cancel(r.ticket).unwrap();
    assert_eq!(counts(&*t, b), (0, 0));
}

fn cancel_of_a_removed_engines_ticket_is_ok(bk: &Backend) {
    let t = bk.table(cfg(1, 4));
    let a = t.add_engine(b"a", 2).unwrap();
    let p = t.reserve().unwrap().unwrap();
    t.remove_engine(a).unwrap();
    assert_eq!(t.cancel(p.ticket), Ok(()));
    assert_eq!(t.cancel(p.ticket), Err(Error::Stale));
    assert_eq!(t.ticket_counts().free, 4);
}

fn ticket_exhaustion_is_table_full(bk: &Backend) {
    let t = bk.table(cfg(1, 2));
    t.add_engine(b"a", 10).unwrap();
    let a = t.reserve().unwrap().unwrap();
    let _b = t.reserve().unwrap().unwrap();
    assert_eq!(t.reserve(), Err(Error::TableFull));
    t.cancel(a.ticket).unwrap();
    assert!(t.reserve().unwrap().is_some());
}

fn no_engines_is_no_capacity(bk: &Backend) {
    let t = bk.table(cfg(1, 2));
    assert_eq!(t.reserve(), Ok(None));
    assert_eq!(t.ticket_counts().free, 2, "the ticket went back");
}

fn pending_lease_reclaims_inside_reserve(bk: &Backend) {
    let t = bk.table_at(
        Config {
            pending_lease_ms: 100,
            ..cfg(1, 8)
        },
        1_000,
    );
    let clock = TestClock::new(&*t, 1_000);
    let e = t.add_engine(b"e", 1).unwrap();
    let leaked = t.reserve().unwrap().unwrap();
    assert_eq!(t.reserve().unwrap(), None);
    clock.advance(Duration::from_millis(99));
    assert_eq!(t.reserve().unwrap(), None, "lease not over yet");
    clock.advance(Duration::from_millis(1));
    let fresh = t.reserve().unwrap().expect("lazy reclaim freed the slot");
    assert_eq!(t.commit(leaked.ticket), Err(Error::Stale));
    t.commit(fresh.ticket).unwrap();
    let s = t.engine_stats(e).unwrap();
    assert_eq!((s.active, s.pending, s.expired_total), (1, 0, 1));
}

fn operations_after_the_deadline_are_expiry(bk: &Backend) {
    let t = bk.table_at(
        Config {
            pending_lease_ms: 50,
            active_lease_ms: 80,
            ..cfg(1, 8)
        },
        0,
    );
    let clock = TestClock::new(&*t, 0);
    let e = t.add_engine(b"e", 4).unwrap();
    let a = t.reserve().unwrap().unwrap();
    let b = t.reserve().unwrap().unwrap();
    clock.advance(Duration::from_millis(50));
    assert_eq!(t.commit(a.ticket), Err(Error::Stale), "commit after expiry");
    assert_eq!(t.cancel(b.ticket), Err(Error::Stale), "cancel after expiry");
    let c = t.reserve().unwrap().unwrap();
    t.commit(c.ticket).unwrap();
    clock.advance(Duration::from_millis(79));
    t.touch(c.ticket).unwrap();
    clock.advance(Duration::from_millis(79));
    assert_eq!(t.reclaim_expired(), 0, "touch extended the lease");
    clock.advance(Duration::from_millis(1));
    assert_eq!(t.reclaim_expired(), 1);
    assert_eq!(t.release(c.ticket), Err(Error::Stale));
    let s = t.engine_stats(e).unwrap();
    assert_eq!(
        (s.active, s.pending, s.expired_total, s.reserved_total),
        (0, 0, 3, 3)
    );
}

fn leases_of_zero_never_expire(bk: &Backend) {
    let t = bk.table_at(cfg(1, 4), 0);
    let clock = TestClock::new(&*t, 0);
    t.add_engine(b"e", 4).unwrap();
    let a = t.reserve().unwrap().unwrap();
    clock.advance(Duration::from_secs(86_400 * 365));
    assert_eq!(t.reclaim_expired(), 0);
    t.commit(a.ticket).unwrap();
    clock.advance(Duration::from_secs(86_400 * 365));
    assert_eq!(t.reclaim_expired(), 0);
    t.touch(a.ticket).unwrap();
    t.release(a.ticket).unwrap();
}

fn least_loaded_order(bk: &Backend) {
    // A test clock that moves between reservations, so "least recently
    // reserved" is decided by the stamps, not left to the last tie-break.
    let t = bk.table_at(cfg(4, 32), 1);
    let clock = TestClock::new(&*t, 1);
    let a = t.add_engine(b"a", 4).unwrap();
    let b = t.add_engine(b"b", 2).unwrap();
    let c = t.add_engine(b"c", 4).unwrap();
    let reserve = || {
        clock.advance(Duration::from_millis(1));
        t.reserve().unwrap().unwrap().engine
    };
    // All idle: any of them (the last tie-break is "any of the engines still
    // equal"), then each of the others while it is idle.
    let first: Vec<Engine> = (0..3).map(|_| reserve()).collect();
    let mut sorted = first.clone();
    sorted.sort_by_key(|e| e.raw());
    let mut all = vec![a, b, c];
    all.sort_by_key(|e| e.raw());
    assert_eq!(sorted, all, "each idle engine once: {first:?}");
    // a: 1/4, b: 1/2, c: 1/4 -> a and c tie on load; the one whose
    // reservation is older wins, then the other.
    let older = *first.iter().find(|&&e| e == a || e == c).unwrap();
    let newer = if older == a { c } else { a };
    assert_eq!(reserve(), older);
    assert_eq!(reserve(), newer);
    // Unhealthy loses even when less loaded; priority breaks ratio ties.
    let t = bk.table(cfg(4, 32));
    let a = t.add_engine(b"a", 4).unwrap();
    let b = t.add_engine(b"b", 4).unwrap();
    t.set_healthy(a, false).unwrap();
    t.reserve_on(b).unwrap().unwrap();
    t.reserve_on(b).unwrap().unwrap();
    assert_eq!(t.reserve().unwrap().unwrap().engine, b);
    t.set_healthy(a, true).unwrap();
    let t = bk.table(cfg(4, 32));
    let _a = t.add_engine(b"a", 4).unwrap();
    let b = t.add_engine(b"b", 4).unwrap();
    t.set_priority(b, 5).unwrap();
    assert_eq!(t.reserve().unwrap().unwrap().engine, b);
}

fn fill_first_fills_one_engine_at_a_time(bk: &Backend) {
    let t = bk.table(Config {
        policy: Policy::FillFirst,
        ..cfg(3, 32)
    });
    let a = t.add_engine(b"a", 2).unwrap();
    let b = t.add_engine(b"b", 2).unwrap();
    let got: Vec<Engine> = (0..4)
        .map(|_| t.reserve().unwrap().unwrap().engine)
        .collect();
    assert_eq!(got, vec![a, a, b, b]);
    assert_eq!(t.reserve().unwrap(), None);
}

fn two_choices_finds_the_last_free_slot(bk: &Backend) {
    let t = bk.table(Config {
        policy: Policy::TwoChoices,
        ..cfg(64, 256)
    });
    let engines: Vec<Engine> = (0..64)
        .map(|i| t.add_engine(format!("e{i}").as_bytes(), 2).unwrap())
        .collect();
    for _ in 0..128 {
        t.reserve().unwrap().expect("room somewhere");
    }
    assert_eq!(t.reserve().unwrap(), None);
    for e in &engines {
        assert_eq!(counts(&*t, *e), (0, 2));
    }
}

fn snapshots(bk: &Backend) {
    let t = bk.table(cfg(8, 8));
    let a = t.add_engine(b"a", 1).unwrap();
    let b = t.add_engine(b"b", 1).unwrap();
    let c = t.add_engine(b"c", 1).unwrap();
    t.remove_engine(b).unwrap();
    let snap = t.snapshot();
    assert_eq!(
        snap.iter().map(|s| s.engine).collect::<Vec<_>>(),
        vec![a, c]
    );
    assert_eq!(snap[1].key_lossy(), "c");
}

#[test]
fn errors_display_and_codes() {
    for (e, code) in [
        (Error::Invalid, -2),
        (Error::TableFull, -3),
        (Error::Exists, -4),
        (Error::NotFound, -5),
        (Error::Stale, -6),
        (Error::Io(2), -7),
        (Error::Corrupt, -8),
    ] {
        assert_eq!(e.code(), code);
        assert!(!e.to_string().is_empty());
    }
}

fn touch_of_a_removed_engines_ticket_is_stale(bk: &Backend) {
    let t = bk.table(cfg(1, 4));
    let a = t.add_engine(b"a", 2).unwrap();
    let r = t.reserve().unwrap().unwrap();
    t.commit(r.ticket).unwrap();
    t.remove_engine(a).unwrap();
    assert_eq!(t.touch(r.ticket), Err(Error::Stale));
    assert_eq!(t.release(r.ticket), Ok(()), "it can still be finished");
}

fn handles_of_other_tables_are_always_stale(bk: &Backend) {
    // Tags of in-process tables created in one process never repeat (for
    // 32 767 tables), so this holds for every pair, not just probably; a
    // remote table's handles carry random 40-bit generations.
    let tables: Vec<Box<dyn Slots>> = (0..16).map(|_| bk.table(cfg(1, 2))).collect();
    let held: Vec<_> = tables
        .iter()
        .map(|t| {
            let e = t.add_engine(b"same-key", 2).unwrap();
            (e, t.reserve().unwrap().unwrap().ticket)
        })
        .collect();
    for (i, t) in tables.iter().enumerate() {
        for (j, &(e, tk)) in held.iter().enumerate() {
            if i != j {
                assert_eq!(t.engine_stats(e), Err(Error::Stale));
                assert_eq!(t.cancel(tk), Err(Error::Stale));
            }
        }
    }
}

fn add_with_all_settings_at_once(bk: &Backend) {
    use engine_slots::EngineSpec;
    let t = bk.table(cfg(2, 8));
    let spec = EngineSpec {
        capacity: 3,
        healthy: false,
        priority: 7,
        external: 2,
        draining: false,
        user: 0xfeed,
    };
    let e = t.add_engine_with(b"e", &spec).unwrap();
    let s = t.engine_stats(e).unwrap();
    assert_eq!(
        (s.capacity, s.healthy, s.priority, s.external, s.draining, s.user),
        (3, false, 7, 2, false, 0xfeed)
    );
    // External load counts from the first instant: one slot left.
    assert!(t.reserve().unwrap().is_some());
    assert_eq!(t.reserve().unwrap(), None);
    let d = t
        .add_engine_with(
            b"d",
            &EngineSpec {
                draining: true,
                ..EngineSpec::default()
            },
        )
        .unwrap();
    assert_eq!(t.reserve_on(d).unwrap(), None, "added draining");
    t.undrain(d).unwrap();
    assert!(t.reserve_on(d).unwrap().is_some());
    assert_eq!(
        t.engine_stats(d).unwrap().capacity,
        2,
        "capacity 0: the default"
    );
    let bad = EngineSpec {
        capacity: 5000,
        ..EngineSpec::default()
    };
    assert_eq!(t.add_engine_with(b"x", &bad), Err(Error::Invalid));
}

fn add_or_find_adds_once(bk: &Backend) {
    use engine_slots::EngineSpec;
    let t = bk.table(cfg(2, 8));
    let spec = EngineSpec {
        user: 42,
        ..EngineSpec::default()
    };
    let (a, created) = t.add_or_find(b"pod-a", &spec).unwrap();
    assert!(created);
    let (b, created) = t.add_or_find(b"pod-a", &EngineSpec::default()).unwrap();
    assert!(!created);
    assert_eq!(a, b);
    assert_eq!(
        t.engine_stats(a).unwrap().user,
        42,
        "found, not overwritten"
    );
    assert_eq!(t.add_or_find(b"", &spec), Err(Error::Invalid));
    let bad = EngineSpec {
        capacity: 5000,
        ..EngineSpec::default()
    };
    assert_eq!(t.add_or_find(b"pod-b", &bad), Err(Error::Invalid));
    t.add_or_find(b"pod-b", &spec).unwrap();
    assert_eq!(t.add_or_find(b"pod-c", &spec), Err(Error::TableFull));
}

#[test]
fn add_or_find_races_agree() {
    use engine_slots::EngineSpec;
    let t = std::sync::Arc::new(Table::new(cfg(4, 8)).unwrap());
    let results: Vec<_> = (0..4)
        .map(|_| {
            let t = t.clone();
            std::thread::spawn(move || t.add_or_find(b"same", &EngineSpec::default()).unwrap())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(
        results.iter().filter(|r| r.1).count(),
        1,
        "exactly one adds"
    );
    assert!(
        results.iter().all(|r| r.0 == results[0].0),
        "all get one engine"
    );
}

fn user_word_is_stored_and_stale_safe(bk: &Backend) {
    let t = bk.table(cfg(2, 8));
    let e = t.add_engine(b"e", 1).unwrap();
    assert_eq!(t.engine_stats(e).unwrap().user, 0);
    t.set_user(e, u64::MAX).unwrap();
    assert_eq!(t.engine_stats(e).unwrap().user, u64::MAX);
    t.remove_engine(e).unwrap();
    assert_eq!(t.set_user(e, 1), Err(Error::Stale));
    let again = t.add_engine(b"e", 1).unwrap();
    assert_eq!(
        t.engine_stats(again).unwrap().user,
        0,
        "a new engine starts at 0"
    );
}

fn reserve_on_key_finds_and_reserves(bk: &Backend) {
    let t = bk.table(cfg(2, 8));
    let e = t.add_engine(b"host:1", 1).unwrap();
    let r = t.reserve_on_key(b"host:1").unwrap().expect("room");
    assert_eq!(r.engine, e);
    assert_eq!(t.reserve_on_key(b"host:1").unwrap(), None, "full");
    assert_eq!(t.reserve_on_key(b"host:2"), Err(Error::NotFound));
    assert_eq!(t.reserve_on_key(b""), Err(Error::Invalid));
    let long = vec![b'k'; engine_slots::KEY_MAX + 1];
    assert_eq!(t.reserve_on_key(&long), Err(Error::Invalid));
}

fn finish_cancels_or_releases_exactly_once(bk: &Backend) {
    let t = bk.table(cfg(2, 8));
    let e = t.add_engine(b"e", 2).unwrap();
    let pending = t.reserve().unwrap().unwrap().ticket;
    let active = t.reserve().unwrap().unwrap().ticket;
    t.commit(active).unwrap();
    t.finish(pending).unwrap();
    t.finish(active).unwrap();
    let s = t.engine_stats(e).unwrap();
    assert_eq!((s.active, s.pending), (0, 0));
    assert_eq!(t.finish(pending), Err(Error::Stale));
    assert_eq!(t.finish(active), Err(Error::Stale));
    assert_eq!(
        t.finish(engine_slots::Ticket::from_raw(0)),
        Err(Error::Stale)
    );
    // A ticket on a removed engine: freed, nothing else touched.
    let orphan = t.reserve().unwrap().unwrap().ticket;
    t.remove_engine(e).unwrap();
    assert_eq!(t.finish(orphan), Ok(()));
    assert_eq!(t.ticket_counts().free, 8);
}

fn keys_up_to_key_max_bytes(bk: &Backend) {
    let t = bk.table(cfg(4, 8));
    let max: Vec<u8> = (0..engine_slots::KEY_MAX)
        .map(|i| (i % 251) as u8)
        .collect();
    let e = t.add_engine(&max, 1).unwrap();
    assert_eq!(t.find_engine(&max).unwrap(), e);
    assert_eq!(t.engine_stats(e).unwrap().key(), &max[..]);
    let mut other = max.clone();
    *other.last_mut().unwrap() ^= 1;
    assert_eq!(
        t.find_engine(&other),
        Err(Error::NotFound),
        "last byte counts"
    );
    let too_long = vec![1u8; engine_slots::KEY_MAX + 1];
    assert_eq!(t.add_engine(&too_long, 1), Err(Error::Invalid));
}

fn release_as_external_keeps_the_unit_until_the_next_report(bk: &Backend) {
    let t = bk.table(cfg(1, 4));
    let e = t.add_engine(b"e", 2).unwrap();
    t.set_external(e, 1).unwrap();
    let a = t.reserve().unwrap().unwrap().ticket;
    t.commit(a).unwrap();
    assert_eq!(t.reserve().unwrap(), None, "1 external + 1 active");
    t.release_as_external(a).unwrap();
    let s = t.engine_stats(e).unwrap();
    assert_eq!((s.active, s.external), (0, 2));
    assert_eq!(t.reserve().unwrap(), None, "the unit is still counted");
    assert_eq!(t.release_as_external(a), Err(Error::Stale), "exactly once");
    assert_eq!(t.release(a), Err(Error::Stale));
    t.set_external(e, 1).unwrap(); // the next report
    assert!(t.reserve().unwrap().is_some());
    // Pending tickets are not released this way.
    let p = t.reserve_on(e).unwrap();
    assert!(p.is_none());
    assert_eq!(t.ticket_counts().free, 3);
}
