package engineslots

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Table is a table of engines and tickets. Its methods are safe for
// concurrent use, including concurrently with Close.
type Table struct {
	b   backend // where the engines and tickets live (backend.go)
	cfg Config

	// recs maps each live Engine this Table has seen to its record (key,
	// value, pin, recent commits), so that a Ticket gets its engine's key
	// and value with no C call. Written by adds and removes (under ctl) and
	// by recOf for engines it meets first (other processes' engines in a
	// shared table); read lock-free.
	recs sync.Map // Engine -> *engineRec
	// adding is the record of the engine an add under ctl is registering
	// (see recOf).
	adding atomic.Pointer[engineRec]
	ctl    sync.Mutex // serializes adds, removes and Sync's changes

	// version counts changes to engines' settings, values and pins made by
	// this Table; Sync's cache of the last list it applied holds the
	// version it matched.
	version atomic.Uint64
	synced  atomic.Pointer[syncState]
	obs     observer // commit times for Sync's ObservedTotals (recent.go)
	// rel orders releases as external load against Sync (recent.go).
	rel releaseLock

	gate gate // last: its padded shards sit apart from the fields above
}

// New creates a table in this process's memory. A Config field out of
// range is ErrInvalid. Without cgo (CGO_ENABLED=0) it returns ErrNoCgo.
//
// Close the table when done; a finalizer frees a forgotten one, but only
// as a fallback.
func New(cfg Config) (*Table, error) {
	b, err := newLocal(cfg)
	if err != nil {
		return nil, err
	}
	return tableOver(b, cfg), nil
}

func tableOver(b backend, cfg Config) *Table {
	t := &Table{b: b, cfg: cfg}
	runtime.SetFinalizer(t, (*Table).Close)
	return t
}

// Close frees the table. It refuses new calls at once (they return
// ErrClosed), waits for the calls in flight, then frees the table.
// It is idempotent: every call after the first returns ErrClosed.
// Tickets of a closed table are dead: their methods return ErrClosed.
func (t *Table) Close() error {
	if !t.gate.close() {
		return ErrClosed
	}
	runtime.SetFinalizer(t, nil)
	t.b.free()
	return nil
}

// ReclaimExpired reclaims every ticket whose lease ran out and returns how
// many it reclaimed (0 on a closed table). Reserve also reclaims when it
// finds no room; call this from a timer to win capacity back eagerly.
// It scans every ticket slot.
func (t *Table) ReclaimExpired() int {
	n, err := call(t, t.b.reclaimExpired)
	if err != nil {
		return 0
	}
	return n
}

// TicketCounts is how many ticket slots are free, pending and active.
type TicketCounts struct {
	Free, Pending, Active int
}

// TicketCounts counts the table's ticket slots by state (zero on a closed
// table). Racy under concurrency (each slot is read once), exact when the
// table is quiet, which makes it a leak check.
func (t *Table) TicketCounts() TicketCounts {
	c, err := call(t, t.b.ticketCounts)
	if err != nil {
		return TicketCounts{}
	}
	return c
}

// Config returns the configuration the table was created with.
func (t *Table) Config() Config { return t.cfg }

// The prologues of every call. A call counts itself in through the gate
// (so Close never frees the table under it) and out again; calls that
// change the set of engines also hold ctl.

// call runs f inside the gate; ErrClosed if the table is closed.
func call[T any](t *Table, f func() (T, error)) (T, error) {
	s, ok := t.gate.enter(pick())
	if !ok {
		var zero T
		return zero, ErrClosed
	}
	defer t.gate.exit(s)
	v, err := f()
	runtime.KeepAlive(t)
	return v, err
}

// locked is call holding ctl.
func locked[T any](t *Table, f func() (T, error)) (T, error) {
	return call(t, func() (T, error) {
		t.ctl.Lock()
		defer t.ctl.Unlock()
		return f()
	})
}

// change runs f, one change to an engine, inside the gate, and records
// that engines changed (so Sync does not trust its cache).
func (t *Table) change(f func() error) error {
	_, err := call(t, func() (struct{}, error) {
		err := f()
		t.changed()
		return struct{}{}, err
	})
	return err
}

// changed records a change to an engine's settings, value or pin, after
// the change is made (see syncState).
func (t *Table) changed() { t.version.Add(1) }

// invalid is ErrInvalid, or ErrClosed on a closed table (a closed table
// answers ErrClosed to every call).
func (t *Table) invalid() error {
	if t.gate.isClosed() {
		return ErrClosed
	}
	return ErrInvalid
}
