package engineslots

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Policy is how Reserve picks an engine among those with room.
type Policy int

const (
	// LeastLoaded (the default): healthy engines first, then the lowest
	// load relative to capacity, then the higher priority, then the engine
	// whose last reservation is oldest, then the lowest slot.
	LeastLoaded Policy = iota
	// FillFirst: the fullest engine that still has room, so idle engines
	// can be scaled down.
	FillFirst
	// TwoChoices: the less loaded of two random engines with room, in time
	// independent of the number of engines.
	TwoChoices
)

func (p Policy) String() string {
	switch p {
	case LeastLoaded:
		return "LeastLoaded"
	case FillFirst:
		return "FillFirst"
	case TwoChoices:
		return "TwoChoices"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Config is the fixed shape and behaviour of a Table, chosen by New.
//
// Every field is taken as given (a zero MaxEngines is ErrInvalid, not a
// default); DefaultConfig returns a sensible starting point.
type Config struct {
	// MaxEngines is the number of engine slots, 1 to 65535.
	// MaxTickets is the number of ticket slots (reservations plus live
	// streams), 1 to 1048576.
	// DefaultCapacity is the capacity AddEngine uses when given 0, 1 to 2047.
	MaxEngines, MaxTickets, DefaultCapacity int
	// PendingLease: a reservation not committed within it is reclaimed.
	// ActiveLease: a committed stream neither touched nor released within
	// it is reclaimed. 0 disables either; other values are rounded up to
	// whole milliseconds; negative or above math.MaxUint32 ms is ErrInvalid
	// (the library caps leases at about 24.8 days).
	PendingLease, ActiveLease time.Duration
	// Policy is how Reserve picks an engine.
	Policy Policy
}

// DefaultConfig is 64 engines, 4096 tickets, capacity 1, a 30 s pending
// lease, no active lease, LeastLoaded: the defaults of the Rust library.
func DefaultConfig() Config {
	return Config{
		MaxEngines:      64,
		MaxTickets:      4096,
		DefaultCapacity: 1,
		PendingLease:    30 * time.Second,
		Policy:          LeastLoaded,
	}
}

// Table is a table of engines and tickets. Its methods are safe for
// concurrent use, including concurrently with Close.
type Table struct {
	ptr *cTable // set by New; freed by Close once no call uses it
	cfg Config

	// keys maps each Engine this Table registered to its key, so that
	// Ticket.Key costs no C call. Written by AddEngine and Remove (under
	// ctl, so a removal can never be undone by a late store), read lock-free.
	keys sync.Map
	ctl  sync.Mutex // serializes AddEngine, Remove and Sync bookkeeping

	statsLen atomic.Int64 // engines in the last Stats: the next buffer's size

	gate gate // last: its padded shards sit apart from the fields above
}

// New creates a table in this process's memory. A Config field out of
// range is ErrInvalid.
//
// Close the table when done; a finalizer frees a forgotten one, but only
// as a fallback.
func New(cfg Config) (*Table, error) {
	cc, ok := cConfig(cfg)
	if !ok {
		return nil, ErrInvalid
	}
	p, err := esTableNew(cc)
	if err != nil {
		return nil, err
	}
	t := &Table{ptr: p, cfg: cfg}
	runtime.SetFinalizer(t, (*Table).Close)
	return t, nil
}

// Close frees the table. It refuses new calls at once (they return
// ErrClosed), waits for the calls in flight, then frees the C table.
// It is idempotent: every call after the first returns ErrClosed.
// Tickets of a closed table are dead: their methods return ErrClosed.
func (t *Table) Close() error {
	if !t.gate.close() {
		return ErrClosed
	}
	runtime.SetFinalizer(t, nil)
	esTableFree(t.ptr)
	t.ptr = nil // no call reads it any more: the gate is shut and empty
	return nil
}

// ReclaimExpired reclaims every ticket whose lease ran out and returns how
// many it reclaimed (0 on a closed table). Reserve also reclaims when it
// finds no room; call this from a timer to win capacity back eagerly.
// It scans every ticket slot.
func (t *Table) ReclaimExpired() int {
	s, ok := t.gate.enter(pick())
	if !ok {
		return 0
	}
	n, err := esReclaimExpired(t.ptr)
	t.gate.exit(s)
	runtime.KeepAlive(t)
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
	s, ok := t.gate.enter(pick())
	if !ok {
		return TicketCounts{}
	}
	c, err := esTicketCounts(t.ptr)
	t.gate.exit(s)
	runtime.KeepAlive(t)
	if err != nil {
		return TicketCounts{}
	}
	return c
}

// Config returns the configuration the table was created with.
func (t *Table) Config() Config { return t.cfg }
