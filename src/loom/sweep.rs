//! Sweeps: a refused reserve waiting (bounded) for a concurrent sweep.

use super::*;

#[test]
fn reserve_waits_for_a_concurrent_sweep() {
    // The only slot is held by an expired ticket. One thread sweeps while
    // another reserves: the reserve must get the slot, whether it reclaims
    // the ticket itself, or the sweep does and the reserve waits for it.
    run_model(2, || {
        let clock = ManualClock::new(1_000);
        let t = Arc::new(Table::with_manual_clock(config(1, 2, 10, 0), &clock).unwrap());
        t.add_engine(b"e", 1).unwrap();
        let leaked = t.reserve().unwrap().unwrap();
        clock.advance(Duration::from_millis(10));
        let t2 = t.clone();
        let h = thread::spawn(move || t2.reclaim_expired());
        let got = t.reserve().unwrap();
        let swept = h.join().unwrap();
        assert!(
            got.is_some(),
            "an expired ticket blocked the reserve (sweep got {swept})"
        );
        assert_eq!(t.commit(leaked.ticket), Err(Error::Stale));
    });
}
