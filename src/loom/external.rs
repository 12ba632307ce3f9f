//! External load: a release that keeps its unit as external load racing the
//! orchestrator's next report (`set_external`) and a reserver.

use super::*;

#[test]
fn release_as_external_races_set_external_and_reserve() {
    run_model(2, || {
        let t = Arc::new(Table::new(config(1, 3, 0, 0)).unwrap());
        let e = t.add_engine(b"e", 2).unwrap();
        t.set_external(e, 1).unwrap();
        let a = t.reserve().unwrap().unwrap().ticket;
        t.commit(a).unwrap();
        let t2 = t.clone();
        // The report that already dropped the stream: external stays 1.
        let report = thread::spawn(move || t2.set_external(e, 1).unwrap());
        let t3 = t.clone();
        let reserver = thread::spawn(move || t3.reserve().unwrap().map(|r| r.ticket));
        t.release_as_external(a).unwrap();
        report.join().unwrap();
        let got = reserver.join().unwrap();
        let s = t.engine_stats(e).unwrap();
        // Admission never went past capacity: whatever the order, the
        // reserver got a slot only if the report came after the release.
        assert!(s.active + s.pending + s.external <= 2);
        if let Some(k) = got {
            t.cancel(k).unwrap();
        }
        t.set_external(e, 0).unwrap();
        let s = t.engine_stats(e).unwrap();
        assert_eq!((s.active, s.pending, s.external), (0, 0, 0));
        assert_eq!(t.ticket_counts().free, 3);
    });
}
