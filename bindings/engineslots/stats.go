package engineslots

// EngineStats is a consistent view of one engine: Capacity, Active,
// Pending and Draining come from one atomic read and agree with each other.
// External is the external load: the value last set (by SetExternal or
// Sync) plus the streams released as external load since (Release and
// Finish on an engine Sync manages with ObservedTotals). Below 2047 it comes
// from the same atomic read and is what admission counts; admission counts
// at most 2047, and above that External is the exact count.
type EngineStats struct {
	Engine                              Engine
	Key                                 string
	Capacity, Active, Pending, External int
	Priority                            int
	Healthy, Draining                   bool
	ReservedTotal, ExpiredTotal         uint64
	// User is the engine's user word in the C table (es_engine_spec.user),
	// which C programs sharing the table may set; this package sets none.
	User uint64
}

// Stats returns the stats of every live engine (draining ones included),
// in slot order; nil on a closed table or on an error (Snapshot says
// which). Engines added or removed during the call may or may not be
// included.
//
// It allocates the result and calls C once (twice if engines were added
// since the last call). Call it from a metrics loop, not per request.
func (t *Table) Stats() []EngineStats {
	s, _ := t.Snapshot()
	return s
}

// Snapshot is Stats with its error: ErrClosed, or what the backend says.
func (t *Table) Snapshot() ([]EngineStats, error) {
	return call(t, func() ([]EngineStats, error) { return t.b.snapshot(t.cachedKey) })
}
