package engineslots

import (
	"errors"
	"runtime"
	"sync/atomic"
)

// Ticket is one stream's claim on one engine, from Reserve or ReserveOn.
//
// Finish it exactly once: Commit when the stream started and Release when
// it ended, or Cancel if it never started. Finish does whichever applies,
// for a `defer tk.Finish()` right after Reserve. A forgotten ticket is
// reclaimed when its lease runs out. Methods are safe for concurrent use;
// the table decides every race (exactly one finishing call wins, the
// others return ErrStale).
type Ticket struct {
	t      *Table
	id     uint64
	engine Engine
	key    string
	shard  uint32        // gate shard of the Reserve call, reused by this ticket
	state  atomic.Uint32 // what this ticket's own calls did: ticketPending...
}

// Local knowledge of a ticket's state, from its own successful calls. The
// C table stays the authority (a lease may expire, another goroutine may
// race); this only lets Finish pick the right call first.
const (
	ticketPending uint32 = iota
	ticketActive
	ticketDone
)

// Reserve places one stream: it picks an engine with room (by the table's
// Policy) and counts a pending ticket on it, in one atomic step. When no
// engine has room it first reclaims expired tickets.
//
// Errors: ErrNoCapacity (no engine has room: an answer, not a fault),
// ErrTableFull (every ticket slot is in use), ErrClosed.
func (t *Table) Reserve() (*Ticket, error) {
	s, ok := t.gate.enter(pick())
	if !ok {
		return nil, ErrClosed
	}
	st, id, e := esReserve(t.ptr)
	if st != statusOK {
		t.gate.exit(s)
		return nil, statusErr(st)
	}
	k := &Ticket{t: t, id: id, engine: e, key: t.keyOf(e), shard: s}
	t.gate.exit(s)
	runtime.KeepAlive(t)
	return k, nil
}

// ReserveOn is Reserve on engine e only.
// Errors: ErrNoCapacity (e is full or draining), ErrStale (e is not a
// live engine), ErrTableFull, ErrClosed.
func (t *Table) ReserveOn(e Engine) (*Ticket, error) {
	s, ok := t.gate.enter(pick())
	if !ok {
		return nil, ErrClosed
	}
	st, id := esReserveOn(t.ptr, e)
	if st != statusOK {
		t.gate.exit(s)
		return nil, statusErr(st)
	}
	k := &Ticket{t: t, id: id, engine: e, key: t.keyOf(e), shard: s}
	t.gate.exit(s)
	runtime.KeepAlive(t)
	return k, nil
}

// Engine is the engine the ticket was reserved on.
func (k *Ticket) Engine() Engine {
	if k == nil {
		return 0
	}
	return k.engine
}

// Key is the key of the ticket's engine, captured when it was reserved
// (so it stays valid even if the engine is removed later). No C call.
func (k *Ticket) Key() string {
	if k == nil {
		return ""
	}
	return k.key
}

// Commit records that the stream started: the pending ticket becomes
// active (and its active lease starts).
// Errors: ErrStale (not pending: already committed or finished, its
// pending lease ran out, or its engine was removed, which also finishes
// it), ErrClosed.
func (k *Ticket) Commit() error {
	err := k.call(esCommit)
	if err == nil {
		k.state.CompareAndSwap(ticketPending, ticketActive)
	}
	return err
}

// Cancel gives back a pending ticket: the stream did not start. nil also
// when its engine was removed meanwhile.
// Errors: ErrStale (not pending), ErrClosed.
func (k *Ticket) Cancel() error {
	err := k.call(esCancel)
	if err == nil {
		k.state.Store(ticketDone)
	}
	return err
}

// Release gives back an active ticket: the stream ended. nil also when its
// engine was removed meanwhile.
// Errors: ErrStale (not active: pending, already finished, or its active
// lease ran out), ErrClosed.
func (k *Ticket) Release() error {
	err := k.call(esRelease)
	if err == nil {
		k.state.Store(ticketDone)
	}
	return err
}

// Touch restarts an active ticket's lease: the stream is still alive.
// Errors: ErrStale (not active, or its lease already ran out: it is then
// reclaimed), ErrClosed.
func (k *Ticket) Touch() error {
	return k.call(esTouch)
}

// Finish ends the ticket whatever its state: it cancels a pending ticket
// and releases an active one. It is meant for a defer right after Reserve:
//
//	tk, err := table.Reserve()
//	if err != nil { return err }
//	defer tk.Finish()
//	... start the stream; on failure just return (Finish cancels) ...
//	if err := tk.Commit(); err != nil { return err }
//	... serve; when the client leaves, return (Finish releases) ...
//
// It returns nil if it finished the ticket or the ticket was already
// finished by this Ticket's own Cancel, Release or Finish (so an explicit
// Release before the deferred Finish is fine). It returns ErrStale if the
// table had already taken the ticket back (its lease ran out, or Commit
// found its engine removed): nothing was left to do. ErrClosed after Close.
func (k *Ticket) Finish() error {
	if k == nil || k.t == nil {
		return ErrStale
	}
	var err error
	switch k.state.Load() {
	case ticketDone:
		if k.t.gate.isClosed() {
			return ErrClosed
		}
		return nil
	case ticketActive:
		err = k.Release()
	default:
		err = k.Cancel()
		if errors.Is(err, ErrStale) {
			// Committed by another goroutine, or committed with a result
			// this ticket did not record: try the active ending.
			err = k.Release()
		}
	}
	return err
}

// call runs one C call on the ticket's table inside the gate, on the
// ticket's own shard.
func (k *Ticket) call(f func(*cTable, uint64) int32) error {
	if k == nil || k.t == nil { // not from Reserve: no live handle
		return ErrStale
	}
	t := k.t
	s, ok := t.gate.enter(k.shard)
	if !ok {
		return ErrClosed
	}
	st := f(t.ptr, k.id)
	t.gate.exit(s)
	runtime.KeepAlive(t)
	return statusErr(st)
}
