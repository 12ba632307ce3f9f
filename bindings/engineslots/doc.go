// Package engineslots places streams on backend engines without ever
// overcommitting one and without leaking capacity.
//
// It is a thin binding over the engine-slots C library: install it
// (`make install PREFIX=...` in the repository), and cgo finds it through
// pkg-config (`#cgo pkg-config: engine_slots`; set PKG_CONFIG_PATH to
// PREFIX/lib/pkgconfig if pkg-config does not look there). Programs link
// the static library and run without LD_LIBRARY_PATH. Built with
// CGO_ENABLED=0 the package still compiles, New and OpenShared return
// ErrNoCgo, and remote tables (OpenRedis: pure Go, over go-redis, in every
// build) work. The README's "Use from Go" has the steps and a container recipe.
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
//	// on every refresh of the orchestrator's engine list:
//	err := table.Sync(engines, engineslots.ObservedTotals(lag))
//
//	// per request:
//	tk, err := table.Reserve()
//	if err != nil { ... } // ErrNoCapacity: answer 503
//	defer tk.Finish()     // cancels if not committed, releases if committed
//	conn, err := dial(tk.Value().(string)) // the engine's address, from Sync
//	if err != nil { return err }
//	if err := tk.Commit(); err != nil { return err } // lease ran out: abort
//	serve(conn)
//
// Every method is safe for concurrent use, also concurrently with Close:
// Close refuses new calls (ErrClosed) and waits for the calls in flight
// before it frees the C table. The hot path (Reserve, Commit, Cancel,
// Release, Touch, Finish, and Ticket's Key and Value) takes no lock; it only
// counts itself in and out of a sharded in-flight counter. The one
// exception: Release and Finish of an active ticket on an engine that Sync
// manages with ObservedTotals read-lock one shard of a lock that only such
// a Sync write-locks, so that the released stream stays counted until the
// next report (see ObservedTotals).
package engineslots
