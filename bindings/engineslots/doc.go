// Package engineslots places streams on backend engines without ever
// overcommitting one and without leaking capacity.
//
// It is a thin binding over the engine-slots C ABI (include/engine_slots.h,
// linked statically from target/release/libengine_slots.a; build it first
// with `cargo build --release` at the repository root).
//
// A Table holds engines (each with a capacity of concurrent streams) and
// tickets (one per stream). Reserve picks an engine and counts the stream on
// it in one atomic step, so concurrent requests can never put more streams
// on an engine than its capacity. The life cycle of a ticket is
//
//	Reserve -> pending -> Commit -> active -> Release
//	Reserve -> pending -> Cancel
//	pending or active -> expired (reclaimed by its lease)
//
// and every ticket is finished exactly once: any other call (a second
// Release, a Cancel after Commit, a Commit after expiry) returns ErrStale
// and changes nothing. A ticket that is forgotten is reclaimed when its
// lease runs out (Config.PendingLease, Config.ActiveLease), by Reserve when
// it finds no room or by ReclaimExpired; there is no background goroutine.
//
// The usual proxy flow is
//
//	tk, err := table.Reserve()
//	if err != nil { ... } // ErrNoCapacity: answer 503
//	defer tk.Finish()     // cancels if not committed, releases if committed
//	conn, err := dial(tk.Key())
//	if err != nil { return err }
//	if err := tk.Commit(); err != nil { return err } // lease ran out: abort
//	serve(conn)
//
// Every method is safe for concurrent use, also concurrently with Close:
// Close refuses new calls (ErrClosed) and waits for the calls in flight
// before it frees the C table. The hot path (Reserve, Commit, Cancel,
// Release, Touch) takes no lock; it only counts itself in and out of a
// sharded in-flight counter.
package engineslots
