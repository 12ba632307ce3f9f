package engineslots

import "runtime"

// EngineStats is a consistent view of one engine: Capacity, Active,
// Pending and Draining come from one atomic read and agree with each other.
// External is the exact value last set (admission counts at most 2047).
type EngineStats struct {
	Engine                              Engine
	Key                                 string
	Capacity, Active, Pending, External int
	Priority                            int
	Healthy, Draining                   bool
	ReservedTotal, ExpiredTotal         uint64
}

// Stats returns the stats of every live engine (draining ones included),
// in slot order; nil on a closed table. Engines added or removed during the
// call may or may not be included.
//
// It allocates the result and calls C once (twice if engines were added
// since the last call). Call it from a metrics loop, not per request.
func (t *Table) Stats() []EngineStats {
	s, ok := t.gate.enter(pick())
	if !ok {
		return nil
	}
	defer t.gate.exit(s)
	return t.stats()
}

// stats is Stats for a caller inside the gate.
func (t *Table) stats() []EngineStats {
	// Size the buffer from the last call, plus slack; when engines were
	// added in between, grow it and ask again.
	n := int(t.statsLen.Load()) + 8
	for {
		buf := make([]cStats, n)
		live, err := esSnapshot(t.ptr, buf)
		runtime.KeepAlive(t)
		if err != nil {
			return nil
		}
		if live > n {
			n = live + 8
			continue
		}
		t.statsLen.Store(int64(live))
		out := make([]EngineStats, live)
		for i := range out {
			out[i] = goStats(&buf[i], t.cachedKey(statsEngine(&buf[i])))
		}
		return out
	}
}

// cachedKey is e's key if the cache has it (sharing the cached string
// instead of allocating a copy per call), else "".
func (t *Table) cachedKey(e Engine) string {
	if k, ok := t.keys.Load(e); ok {
		return k.(string)
	}
	return ""
}
