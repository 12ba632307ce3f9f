package engineslots

import (
	"fmt"
	"math"
)

// Engine is a handle to a registered engine: a generation-tagged uint64
// that is never 0. Once the engine is removed the handle is stale forever
// (ErrStale), even after its slot is reused by another engine.
type Engine uint64

func (e Engine) String() string { return fmt.Sprintf("Engine(%#x)", uint64(e)) }

// EngineInfo describes an engine: for AddEngineWith and AddOrFind, and as
// one entry of the list an orchestrator reports, for Sync. The zero value
// of every field is the usual case (healthy, priority 0, no external
// streams, the table's default capacity).
type EngineInfo struct {
	// Key names the engine: 1 to ES_KEY_MAX (253 or more) bytes of any
	// value, e.g. a container id, a pod name or a host:port.
	Key string
	// Capacity is how many streams it takes at once (1 to 2047); 0: the
	// table's DefaultCapacity.
	Capacity int
	// Unhealthy engines are still used, but only when no healthy engine
	// has room.
	Unhealthy bool
	// Priority breaks ties on load: higher wins. Within the int32 range.
	Priority int
	// External is the number of streams on the engine that this table does
	// not own (other proxies'); they count toward admission. Sync with
	// ObservedTotals ignores it and derives it from Streams.
	External int
	// Streams is, for Sync with ObservedTotals only, the orchestrator's
	// total count of streams on the engine, this table's included.
	Streams int
	// Value is any Go value to keep with the engine (its address, say);
	// every Ticket on it returns it from Value, with no C call.
	Value any
}

// spec checks info and converts it to the C library's engine spec. The key
// and the capacity's upper bound are checked by the C side.
func (info *EngineInfo) spec() (engineSpec, error) {
	capacity, capOK := toU32(info.Capacity)
	external, extOK := toU32(info.External)
	_, streamsOK := toU32(info.Streams)
	prioOK := info.Priority >= math.MinInt32 && info.Priority <= math.MaxInt32
	if !capOK || !extOK || !streamsOK || !prioOK {
		return engineSpec{}, ErrInvalid
	}
	return engineSpec{
		capacity: capacity,
		priority: int32(info.Priority),
		external: external,
		healthy:  !info.Unhealthy,
	}, nil
}

// AddEngine registers an engine under key (1 to ES_KEY_MAX bytes of any
// value, NUL bytes included) with room for capacity streams at once (1 to
// 2047; 0 means the table's DefaultCapacity). A new engine is healthy, has
// priority 0, no external streams and no value. It is pinned: Sync never
// drains or removes it (see IncludePinned).
//
// Errors: ErrInvalid (key length, capacity), ErrExists, ErrTableFull (no
// free engine slot), ErrClosed.
func (t *Table) AddEngine(key string, capacity int) (Engine, error) {
	return t.AddEngineWith(EngineInfo{Key: key, Capacity: capacity})
}

// AddEngineWith registers an engine with every setting of info (Streams
// aside) in place from its first instant: no reservation ever sees it
// without its external load, health or value. It is pinned, as with
// AddEngine. Errors: as AddEngine, and ErrInvalid for a field out of range.
func (t *Table) AddEngineWith(info EngineInfo) (Engine, error) {
	spec, err := info.spec()
	if err != nil {
		return 0, t.invalid()
	}
	return locked(t, func() (Engine, error) {
		e, _, err := t.add(newRec(info.Key, info.Value, true), func(key string) (Engine, bool, error) {
			e, err := t.b.addEngine(key, &spec)
			return e, err == nil, err
		})
		t.changed()
		return e, err
	})
}

// AddOrFind returns the engine registered under info.Key, adding it as
// AddEngineWith does if there is none, in one atomic step: of any number of
// concurrent callers (in any process, for a shared table) exactly one
// creates it. created says whether this call did; only then are info's
// settings and value applied and the engine pinned. An engine that was
// found is returned as it is.
//
// Errors: ErrInvalid, ErrTableFull (to add it), ErrClosed.
func (t *Table) AddOrFind(info EngineInfo) (e Engine, created bool, err error) {
	spec, err := info.spec()
	if err != nil {
		return 0, false, t.invalid()
	}
	type result struct {
		e       Engine
		created bool
	}
	r, err := locked(t, func() (result, error) {
		e, created, err := t.add(newRec(info.Key, info.Value, true), func(key string) (Engine, bool, error) {
			return t.b.addOrFind(key, &spec)
		})
		if created {
			t.changed()
		}
		return result{e, created}, err
	})
	return r.e, r.created, err
}

// FindEngine returns the engine registered under key.
// Errors: ErrInvalid (key length), ErrNotFound, ErrClosed.
func (t *Table) FindEngine(key string) (Engine, error) {
	return call(t, func() (Engine, error) { return t.b.findEngine(key) })
}

// SetCapacity sets how many streams e admits at once, 1 to 2047. Lowering
// it below the current load revokes nothing; it only stops new admissions.
// Errors: ErrInvalid, ErrStale, ErrClosed.
func (t *Table) SetCapacity(e Engine, n int) error {
	c, ok := toU32(n)
	if !ok {
		return t.invalid()
	}
	return t.change(func() error { return t.b.setCapacity(e, c) })
}

// SetHealthy marks e healthy or not. An unhealthy engine is still
// admissible; Reserve prefers healthy ones. Errors: ErrStale, ErrClosed.
func (t *Table) SetHealthy(e Engine, healthy bool) error {
	return t.change(func() error { return t.b.setHealthy(e, healthy) })
}

// SetPriority sets e's priority: among engines of equal relative load the
// higher priority wins. Errors: ErrInvalid (outside the int32 range),
// ErrStale, ErrClosed.
func (t *Table) SetPriority(e Engine, prio int) error {
	if prio < math.MinInt32 || prio > math.MaxInt32 {
		return t.invalid()
	}
	return t.change(func() error { return t.b.setPriority(e, int32(prio)) })
}

// SetExternal sets the number of streams on e that this table does not own
// (reported by an orchestrator for other proxies); they count toward
// admission. Errors: ErrInvalid (negative or above math.MaxUint32),
// ErrStale, ErrClosed.
func (t *Table) SetExternal(e Engine, n int) error {
	c, ok := toU32(n)
	if !ok {
		return t.invalid()
	}
	return t.change(func() error { return t.b.setExternal(e, c) })
}

// SetValue sets e's value: Tickets reserved on e from now on return it from
// Value (those reserved before keep the old one). Errors: ErrStale, ErrClosed.
func (t *Table) SetValue(e Engine, v any) error {
	return t.change(func() error {
		// The C table says whether e is live (in a shared table another
		// process may have removed it).
		if _, err := t.b.engineStats(e); err != nil {
			return err
		}
		r := t.recOf(e)
		if r == nil {
			return ErrStale
		}
		r.setValue(v)
		return nil
	})
}

// Drain stops new admissions on e (ReserveOn it returns ErrNoCapacity);
// its tickets finish normally. Draining twice is fine.
// Errors: ErrStale, ErrClosed.
func (t *Table) Drain(e Engine) error {
	return t.change(func() error { return t.b.drain(e) })
}

// Undrain undoes Drain: e admits again. Fine on an engine that is not
// draining. Errors: ErrStale, ErrClosed.
func (t *Table) Undrain(e Engine) error {
	return t.change(func() error { return t.b.undrain(e) })
}

// Remove removes e and frees its slot at once; e is stale from now on. Its
// tickets can only be finished: Commit returns ErrStale (and finishes the
// ticket), Cancel of a pending and Release of an active ticket return nil.
// Errors: ErrStale, ErrClosed.
func (t *Table) Remove(e Engine) error {
	_, err := locked(t, func() (struct{}, error) {
		err := t.remove(e)
		t.changed()
		return struct{}{}, err
	})
	return err
}

// remove is Remove for a caller inside the gate holding ctl.
func (t *Table) remove(e Engine) error {
	if err := t.b.remove(e); err != nil {
		return err
	}
	t.recs.Delete(e)
	return nil
}

// EngineStats returns the stats of engine e, from one atomic read.
// Errors: ErrStale, ErrClosed.
func (t *Table) EngineStats(e Engine) (EngineStats, error) {
	return call(t, func() (EngineStats, error) { return t.b.engineStats(e) })
}
