package engineslots

import (
	"fmt"
	"math"
	"runtime"
	"strings"
)

// Engine is a handle to a registered engine: a generation-tagged uint64
// that is never 0. Once the engine is removed the handle is stale forever
// (ErrStale), even after its slot is reused by another engine.
type Engine uint64

func (e Engine) String() string { return fmt.Sprintf("Engine(%#x)", uint64(e)) }

// AddEngine registers an engine under key (1 to 64 bytes of any value,
// NUL bytes included) with room for capacity streams at once (1 to 2047;
// 0 means the table's DefaultCapacity). A new engine is healthy, has
// priority 0 and no external streams.
//
// Errors: ErrInvalid (key length, capacity), ErrExists, ErrTableFull (no
// free engine slot), ErrClosed.
func (t *Table) AddEngine(key string, capacity int) (Engine, error) {
	s, ok := t.gate.enter(pick())
	if !ok {
		return 0, ErrClosed
	}
	defer t.gate.exit(s)
	t.ctl.Lock()
	defer t.ctl.Unlock()
	return t.addEngine(key, capacity)
}

// addEngine is AddEngine for a caller inside the gate holding ctl.
func (t *Table) addEngine(key string, capacity int) (Engine, error) {
	c, ok := toU32(capacity)
	if !ok {
		return 0, ErrInvalid
	}
	e, err := esEngineAdd(t.ptr, key, c)
	runtime.KeepAlive(t)
	if err != nil {
		return 0, err
	}
	// A copy, so the cache never pins a larger buffer key was cut from.
	t.keys.Store(e, strings.Clone(key))
	return e, nil
}

// FindEngine returns the engine registered under key.
// Errors: ErrInvalid (key length), ErrNotFound, ErrClosed.
func (t *Table) FindEngine(key string) (Engine, error) {
	s, ok := t.gate.enter(pick())
	if !ok {
		return 0, ErrClosed
	}
	defer t.gate.exit(s)
	return t.findEngine(key)
}

// findEngine is FindEngine for a caller inside the gate.
func (t *Table) findEngine(key string) (Engine, error) {
	// The key's length is checked by the C side (one place decides).
	e, err := esEngineFind(t.ptr, key)
	runtime.KeepAlive(t)
	if err != nil {
		return 0, err
	}
	return e, nil
}

// SetCapacity sets how many streams e admits at once, 1 to 2047. Lowering
// it below the current load revokes nothing; it only stops new admissions.
// Errors: ErrInvalid, ErrStale, ErrClosed.
func (t *Table) SetCapacity(e Engine, n int) error {
	c, ok := toU32(n)
	if !ok {
		return t.invalid()
	}
	return t.engineOp(func(p *cTable) error { return esSetCapacity(p, e, c) })
}

// SetHealthy marks e healthy or not. An unhealthy engine is still
// admissible; Reserve prefers healthy ones. Errors: ErrStale, ErrClosed.
func (t *Table) SetHealthy(e Engine, healthy bool) error {
	return t.engineOp(func(p *cTable) error { return esSetHealthy(p, e, healthy) })
}

// SetPriority sets e's priority: among engines of equal relative load the
// higher priority wins. Errors: ErrInvalid (outside the int32 range),
// ErrStale, ErrClosed.
func (t *Table) SetPriority(e Engine, prio int) error {
	if prio < math.MinInt32 || prio > math.MaxInt32 {
		return t.invalid()
	}
	return t.engineOp(func(p *cTable) error { return esSetPriority(p, e, int32(prio)) })
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
	return t.engineOp(func(p *cTable) error { return esSetExternal(p, e, c) })
}

// Drain stops new admissions on e (ReserveOn it returns ErrNoCapacity);
// its tickets finish normally. Draining twice is fine.
// Errors: ErrStale, ErrClosed.
func (t *Table) Drain(e Engine) error {
	return t.engineOp(func(p *cTable) error { return esDrain(p, e) })
}

// Undrain undoes Drain: e admits again. Fine on an engine that is not
// draining. Errors: ErrStale, ErrClosed.
func (t *Table) Undrain(e Engine) error {
	return t.engineOp(func(p *cTable) error { return esUndrain(p, e) })
}

// Remove removes e and frees its slot at once; e is stale from now on. Its
// tickets can only be finished: Commit returns ErrStale (and finishes the
// ticket), Cancel of a pending and Release of an active ticket return nil.
// Errors: ErrStale, ErrClosed.
func (t *Table) Remove(e Engine) error {
	s, ok := t.gate.enter(pick())
	if !ok {
		return ErrClosed
	}
	defer t.gate.exit(s)
	t.ctl.Lock()
	defer t.ctl.Unlock()
	return t.remove(e)
}

// remove is Remove for a caller inside the gate holding ctl.
func (t *Table) remove(e Engine) error {
	err := esRemove(t.ptr, e)
	runtime.KeepAlive(t)
	if err != nil {
		return err
	}
	t.keys.Delete(e)
	return nil
}

// engineOp runs one C call on the table inside the gate.
func (t *Table) engineOp(call func(*cTable) error) error {
	s, ok := t.gate.enter(pick())
	if !ok {
		return ErrClosed
	}
	err := call(t.ptr)
	t.gate.exit(s)
	runtime.KeepAlive(t)
	return err
}

// invalid is ErrInvalid, or ErrClosed on a closed table (a closed table
// answers ErrClosed to every call).
func (t *Table) invalid() error {
	if t.gate.isClosed() {
		return ErrClosed
	}
	return ErrInvalid
}

// keyOf is the key of engine e, from the cache or, failing that (an
// engine this Table has not recorded yet, e.g. reserved on in the instant
// between its C registration and AddEngine's cache store), from the C
// table. The caller is inside the gate.
func (t *Table) keyOf(e Engine) string {
	if k, ok := t.keys.Load(e); ok {
		return k.(string)
	}
	st, err := esEngineStats(t.ptr, e)
	runtime.KeepAlive(t)
	if err != nil {
		return ""
	}
	key := goStats(&st, "").Key
	// A handle's key never changes (handles are generation-tagged), so
	// caching it is safe; in a shared table this is how engines added by
	// other processes get here.
	t.keys.LoadOrStore(e, key)
	return key
}
