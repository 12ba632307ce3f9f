package engineslots

import (
	"runtime"
	"sync/atomic"
)

// Ticket is one stream's claim on one engine, from Reserve, ReserveOn or
// ReserveKey.
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
	rec    *engineRec // the engine's record; nil if it was already gone
	value  any        // the engine's value when reserved
	shard  uint32     // gate shard of the Reserve call, reused by this ticket
	state  atomic.Uint32
	gen    atomic.Uint64 // generation its commit counts in (recent.go); 0: none
}

// Local knowledge of a ticket's state, from its own successful calls. The
// table stays the authority (a lease may expire, another goroutine may
// race); this only lets Finish answer nil after this Ticket's own ending.
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
	return t.reserve(func() (int32, uint64, Engine) { return t.b.reserve() })
}

// ReserveOn is Reserve on engine e only.
// Errors: ErrNoCapacity (e is full or draining), ErrStale (e is not a
// live engine), ErrTableFull, ErrClosed.
func (t *Table) ReserveOn(e Engine) (*Ticket, error) {
	return t.reserve(func() (int32, uint64, Engine) {
		st, id := t.b.reserveOn(e)
		return st, id, e
	})
}

// ReserveKey is ReserveOn the engine registered under key, in one call.
// Errors: ErrNotFound (no engine has that key), ErrInvalid (key length),
// ErrNoCapacity, ErrTableFull, ErrClosed.
func (t *Table) ReserveKey(key string) (*Ticket, error) {
	return t.reserve(func() (int32, uint64, Engine) { return t.b.reserveOnKey(key) })
}

// reserve runs one reserving call inside the gate and wraps its ticket.
func (t *Table) reserve(f func() (int32, uint64, Engine)) (*Ticket, error) {
	s, ok := t.gate.enter(pick())
	if !ok {
		return nil, ErrClosed
	}
	st, id, e := f()
	if st != statusOK {
		t.gate.exit(s)
		return nil, statusErr(st)
	}
	k := &Ticket{t: t, id: id, engine: e, shard: s}
	if k.rec = t.recOf(e); k.rec != nil {
		k.value = k.rec.loadValue()
	}
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

// Key is the key of the ticket's engine (so it stays valid even if the
// engine is removed later). No C call.
func (k *Ticket) Key() string {
	if k == nil || k.rec == nil {
		return ""
	}
	return k.rec.key
}

// Value is the value of the ticket's engine (AddEngineWith, AddOrFind,
// Sync's EngineInfo.Value, SetValue) when the ticket was reserved; nil if
// it had none. No C call.
//
// Values live in this Table, not in the C table: an engine another process
// added to a shared table has no value here until SetValue gives it one.
func (k *Ticket) Value() any {
	if k == nil {
		return nil
	}
	return k.value
}

// Commit records that the stream started: the pending ticket becomes
// active (and its active lease starts).
// Errors: ErrStale (not pending: already committed or finished, its
// pending lease ran out, or its engine was removed, which also finishes
// it), ErrClosed.
func (k *Ticket) Commit() error {
	if k == nil || k.t == nil {
		return ErrStale
	}
	g := k.countCommit()
	err := k.call(backend.commit)
	if err != nil {
		k.uncommit(g)
		return err
	}
	k.state.CompareAndSwap(ticketPending, ticketActive)
	k.committed(g)
	return nil
}

// Cancel gives back a pending ticket: the stream did not start. nil also
// when its engine was removed meanwhile.
// Errors: ErrStale (not pending), ErrClosed.
func (k *Ticket) Cancel() error { return k.end(backend.cancel, false) }

// Release gives back an active ticket: the stream ended. nil also when its
// engine was removed meanwhile.
//
// On an engine whose external load Sync derives from the orchestrator's
// totals (ObservedTotals), the stream's slot is not free at once: it stays
// counted as external load until the next Sync, which decides from the
// report whether the engine still runs it (see ObservedTotals).
//
// Errors: ErrStale (not active: pending, already finished, or its active
// lease ran out), ErrClosed.
func (k *Ticket) Release() error { return k.finish(false) }

// Touch restarts an active ticket's lease: the stream is still alive.
// Errors: ErrStale (not active, or its lease already ran out: it is then
// reclaimed), ErrClosed.
func (k *Ticket) Touch() error { return k.call(backend.touch) }

// Finish ends the ticket whatever its state, in one call to the C
// library's es_finish: it cancels a pending ticket and releases an active
// one. It is meant for a defer right after Reserve:
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
//
// An active ticket on an engine Sync manages with ObservedTotals is
// released as Release does there: its slot stays counted as external load
// until the next Sync. Then Finish is one es_release_as_external call for a
// ticket this Ticket committed, and one es_cancel (followed by
// es_release_as_external if another goroutine committed it) otherwise.
func (k *Ticket) Finish() error {
	if k != nil && k.t != nil && k.state.Load() == ticketDone {
		if k.t.gate.isClosed() {
			return ErrClosed
		}
		return nil
	}
	return k.finish(true)
}

// finish is Finish (anyState) or Release.
func (k *Ticket) finish(anyState bool) error {
	if k == nil || k.t == nil {
		return ErrStale
	}
	if k.rec != nil && k.rec.observed.Load() {
		return k.endObserved(anyState)
	}
	if anyState {
		return k.end(backend.finish, true)
	}
	return k.end(backend.release, false)
}

// end runs a finishing call and, if it worked, records that k is done.
// final: the call finishes the ticket whatever its state (es_finish), so
// ErrStale from it means the table already finished it (a lease ran out):
// then it leaves the recent commits too.
func (k *Ticket) end(f func(backend, uint64) int32, final bool) error {
	err := k.call(f)
	if err == nil {
		k.state.Store(ticketDone)
	}
	if err == nil || (final && err == ErrStale) {
		k.uncount()
	}
	return err
}

// endObserved is Release (anyState false) or Finish of a ticket on an
// engine whose external load Sync derives from observed totals: an active
// ticket is released with es_release_as_external, under the release lock
// (recent.go), so that no Sync derives the engine's external load from a
// snapshot taken before the release and sets it after.
//
// Why every active ticket there, not only those Sync subtracted (committed
// more than lag ago): when we release a stream, the engine may have ended
// it before (the report no longer has it, and an old stream was subtracted
// from the report: freeing its slot at once would overbook by one until the
// next Sync) or may end it after (it still runs the tail, which the
// reports before the next Sync may or may not show). Only the next report
// can tell; until Sync reads one the unit stays counted, and Sync then
// counts it as the report and the released ring (recent.go) say.
func (k *Ticket) endObserved(anyState bool) error {
	t := k.t
	s, ok := t.gate.enter(k.shard)
	if !ok {
		return ErrClosed
	}
	l := &t.rel.shards[s].mu
	l.RLock()
	var st int32
	released := false
	switch {
	case !k.rec.observed.Load():
		// Sync stopped managing the engine since the check: as elsewhere.
		if anyState {
			st = t.b.finish(k.id)
		} else {
			st = t.b.release(k.id)
		}
	case anyState && k.state.Load() != ticketActive:
		// Not committed by this Ticket: most likely pending.
		if st = t.b.cancel(k.id); st == statusStale {
			// Committed meanwhile by another goroutine, or finished.
			st = t.b.releaseAsExternal(k.id)
			released = st == statusOK
		}
	default:
		st = t.b.releaseAsExternal(k.id)
		released = st == statusOK
	}
	switch {
	case released:
		k.uncountReleased()
	case st == statusOK, anyState && st == statusStale:
		k.uncount()
	}
	l.RUnlock()
	t.gate.exit(s)
	runtime.KeepAlive(t)
	if st == statusOK {
		k.state.Store(ticketDone)
	}
	return statusErr(st)
}

// call runs one C call on the ticket's table inside the gate, on the
// ticket's own shard.
func (k *Ticket) call(f func(backend, uint64) int32) error {
	if k == nil || k.t == nil { // not from Reserve: no live handle
		return ErrStale
	}
	t := k.t
	s, ok := t.gate.enter(k.shard)
	if !ok {
		return ErrClosed
	}
	st := f(t.b, k.id)
	t.gate.exit(s)
	runtime.KeepAlive(t)
	return statusErr(st)
}
