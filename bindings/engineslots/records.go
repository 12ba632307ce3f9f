package engineslots

import (
	"runtime"
	"strings"
	"sync/atomic"
)

// engineRec is what the Go side keeps about one live engine: one record per
// engine for as long as the Table knows it, shared by every Ticket on it.
type engineRec struct {
	key    string // never changes: a handle's key is fixed
	value  atomic.Pointer[valueBox]
	pinned atomic.Bool // added by hand: Sync leaves it alone unless IncludePinned
	recent recentRing  // commits within Sync's lag (recent.go)
	// released counts, by commit generation, this Table's tickets on the
	// engine that were released as external load (recent.go).
	released recentRing
	// active counts this Table's committed, unfinished tickets on the
	// engine that recent.go tracks (for ObservedTotals on a shared table).
	active atomic.Int64
	// observed: the last Sync listed the engine with ObservedTotals, so
	// Sync derives its external load from the orchestrator's totals and
	// Release/Finish of an active ticket on it release it as external load
	// (recent.go). Changed only by Sync, holding the release lock.
	observed atomic.Bool
}

// valueBox holds an engine's value (atomic.Pointer needs a concrete type;
// a nil box is the nil value).
type valueBox struct{ v any }

func newRec(key string, value any, pinned bool) *engineRec {
	// A copy, so a record never pins a larger buffer the key was cut from.
	r := &engineRec{key: strings.Clone(key)}
	r.setValue(value)
	r.pinned.Store(pinned)
	return r
}

func (r *engineRec) loadValue() any {
	if b := r.value.Load(); b != nil {
		return b.v
	}
	return nil
}

func (r *engineRec) setValue(v any) {
	if v == nil {
		r.value.Store(nil)
		return
	}
	r.value.Store(&valueBox{v})
}

// add registers an engine with this Table's record for it, the record in
// place before any reservation can see the engine. The caller is inside
// the gate and holds ctl (so adds are one at a time). create is the C
// call; it reports whether it created the engine (add-or-find may find
// one instead, and then the record is not used).
func (t *Table) add(rec *engineRec, create func(key string) (Engine, bool, error)) (Engine, bool, error) {
	t.adding.Store(rec)
	e, created, err := create(rec.key)
	runtime.KeepAlive(t)
	if err == nil && created {
		// recOf may have stored rec for e already (then this is a no-op).
		t.recs.LoadOrStore(e, rec)
	}
	t.adding.Store(nil)
	return e, created, err
}

// recOf is the record of engine e; nil if e is not live. From the map, or
// else (an engine this Table meets for the first time) made from the C
// table's view of it, so that engines other processes add to a shared table
// get a record too. The caller is inside the gate.
//
// An engine can be reserved on in the instant between its C registration
// by add and add's store of its record. recOf then finds the key it just
// read in t.adding and waits for add to finish (one C call), so the ticket
// gets the record add is storing (with its value), not a second one.
func (t *Table) recOf(e Engine) *engineRec {
	if r, ok := t.recs.Load(e); ok {
		return r.(*engineRec)
	}
	st, err := t.b.engineStats(e)
	runtime.KeepAlive(t)
	if err != nil {
		return nil
	}
	for a := t.adding.Load(); a != nil && a.key == st.Key; a = t.adding.Load() {
		runtime.Gosched()
	}
	// A handle's key never changes (handles are generation-tagged), so a
	// record made from it stays right; LoadOrStore keeps the first one.
	r, _ := t.recs.LoadOrStore(e, newRec(st.Key, nil, false))
	return r.(*engineRec)
}

// cachedKey is e's key if the Table has a record of e, else "".
func (t *Table) cachedKey(e Engine) string {
	if r, ok := t.recs.Load(e); ok {
		return r.(*engineRec).key
	}
	return ""
}

// pruneRecs drops the records of engines that are no longer live: in a
// shared table other processes remove engines without this Table seeing
// it. live is a snapshot taken before the call; a record missing from it
// is dropped only if its handle is stale (handles are never reused, so a
// stale one stays stale). added: engines added since the snapshot, live
// (not looked up again: on a remote table each look-up is a round trip).
// The caller is inside the gate and holds ctl.
func (t *Table) pruneRecs(live []EngineStats, added []Engine) {
	seen := make(map[Engine]struct{}, len(live)+len(added))
	for i := range live {
		seen[live[i].Engine] = struct{}{}
	}
	for _, e := range added {
		seen[e] = struct{}{}
	}
	t.recs.Range(func(k, _ any) bool {
		e := k.(Engine)
		if _, ok := seen[e]; !ok {
			if _, err := t.b.engineStats(e); err == ErrStale {
				t.recs.Delete(e)
			}
		}
		return true
	})
}
