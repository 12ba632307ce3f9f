//! Admission: exactness when reservers race each other and a capacity change.

use super::*;

#[test]
fn two_reservers_race_for_the_last_slot() {
    run_model(3, || {
        let t = Arc::new(Table::new(config(2, 4, 0, 0)).unwrap());
        let a = t.add_engine(b"a", 2).unwrap();
        let b = t.add_engine(b"b", 1).unwrap();
        // a: 1 of 2 taken, b: full. One slot left in the whole table.
        t.reserve_on(a).unwrap().unwrap();
        t.reserve_on(b).unwrap().unwrap();
        let t2 = t.clone();
        let h = thread::spawn(move || t2.reserve().unwrap());
        let mine = t.reserve().unwrap();
        let theirs = h.join().unwrap();
        assert!(
            mine.is_some() ^ theirs.is_some(),
            "exactly one wins the last slot"
        );
        assert_eq!(counts(&t, a), (0, 2, 0));
        assert_eq!(counts(&t, b), (0, 1, 0));
    });
}

#[test]
fn reserve_races_capacity_lowering() {
    run_model(2, || {
        let t = Arc::new(Table::new(config(1, 3, 0, 0)).unwrap());
        let e = t.add_engine(b"e", 2).unwrap();
        t.reserve().unwrap().unwrap();
        let t2 = t.clone();
        let h = thread::spawn(move || t2.reserve().unwrap().is_some());
        t.set_capacity(e, 1).unwrap();
        // Once the lower capacity is in place nothing more is admitted.
        let after = t.reserve().unwrap();
        let theirs = h.join().unwrap();
        assert!(after.is_none());
        let (_, pending, _) = counts(&t, e);
        assert_eq!(pending, 1 + theirs as u32);
        assert!(pending <= 2);
    });
}
