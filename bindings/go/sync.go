package engineslots

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
)

// EngineInfo is one engine as an orchestrator reports it, for Sync.
type EngineInfo struct {
	Key      string // 1 to 64 bytes, unique in the list
	Capacity int    // streams it takes at once; 0: the table's DefaultCapacity
	Healthy  bool   // unhealthy engines are still used, but last
	Priority int    // higher wins ties on load; within the int32 range
	External int    // streams on it that this table does not own
}

// SyncOption changes what Sync does; see RemoveMissing.
type SyncOption func(*syncOptions)

type syncOptions struct {
	removeMissing bool
}

// RemoveMissing makes Sync remove the engines missing from the list at
// once, instead of draining them first. Their tickets stay valid handles
// that can only be finished (see Remove), so streams already running on
// them are no longer counted anywhere.
func RemoveMissing() SyncOption {
	return func(o *syncOptions) { o.removeMissing = true }
}

// Sync reconciles the table with the full list of engines an orchestrator
// reports, so a proxy can call it on every refresh:
//
//   - an engine in the list but not in the table is added, with the
//     listed capacity, health, priority and external streams;
//   - an engine in both is updated where it differs; if it was draining it
//     is undrained (it reappeared), after its new limits are set;
//   - an engine in the table but not in the list is drained: it admits
//     nothing new while its streams finish. A later Sync that still does
//     not list it removes it once it has no pending or active ticket, so
//     slots of engines that went away are freed. With RemoveMissing it is
//     removed at once instead.
//
// Changes that reduce an engine's room (more external streams, a lower
// capacity) are applied before those that add room, so no intermediate
// state admits more than either the old or the new settings would. (A new
// engine admits from the moment it is added, a few C calls before its
// external count is set; list new engines with External 0 where that
// matters.)
//
// Sync applies everything it can: the result joins one error per entry it
// could not apply (an invalid key or value, a key listed twice, ErrTableFull
// when no engine slot is free, ...), each naming the key and wrapping the
// sentinel, so errors.Is works on it. Sync calls are serialized with each
// other and with AddEngine and Remove; Reserve and the ticket calls run
// concurrently with it.
func (t *Table) Sync(engines []EngineInfo, opts ...SyncOption) error {
	var o syncOptions
	for _, opt := range opts {
		opt(&o)
	}
	s, ok := t.gate.enter(pick())
	if !ok {
		return ErrClosed
	}
	defer t.gate.exit(s)
	t.ctl.Lock()
	defer t.ctl.Unlock()

	current := make(map[string]EngineStats)
	for _, st := range t.stats() {
		current[st.Key] = st
	}
	var errs []error
	fail := func(key string, err error) {
		errs = append(errs, fmt.Errorf("engineslots: sync %q: %w", key, err))
	}
	listed := make(map[string]bool, len(engines))
	for _, info := range engines {
		if listed[info.Key] {
			fail(info.Key, fmt.Errorf("listed twice: %w", ErrInvalid))
			continue
		}
		listed[info.Key] = true
		if err := t.checkInfo(&info); err != nil {
			fail(info.Key, err)
			continue
		}
		var err error
		if cur, ok := current[info.Key]; ok {
			err = t.syncUpdate(cur, info)
		} else {
			err = t.syncAdd(info)
		}
		if err != nil {
			fail(info.Key, err)
		}
	}
	for key, cur := range current {
		if listed[key] {
			continue
		}
		var err error
		switch {
		case o.removeMissing || (cur.Draining && cur.Active+cur.Pending == 0):
			err = t.remove(cur.Engine)
		case !cur.Draining:
			err = esDrain(t.ptr, cur.Engine)
		}
		if err != nil {
			fail(key, err)
		}
	}
	return errors.Join(errs...)
}

// checkInfo validates an entry and resolves a 0 capacity to the default.
func (t *Table) checkInfo(info *EngineInfo) error {
	if info.Capacity == 0 {
		info.Capacity = t.cfg.DefaultCapacity
	}
	_, capOK := toU32(info.Capacity)
	_, extOK := toU32(info.External)
	prioOK := info.Priority >= math.MinInt32 && info.Priority <= math.MaxInt32
	if !capOK || !extOK || !prioOK {
		return ErrInvalid
	}
	return nil
}

// syncAdd registers a listed engine the table does not have, with all its
// settings in place from the first instant (one C call), so no reservation
// ever sees it without its external load or health.
func (t *Table) syncAdd(info EngineInfo) error {
	// Values were checked by checkInfo, so the conversions below fit.
	capacity, _ := toU32(info.Capacity)
	external, _ := toU32(info.External)
	e, err := esEngineAddEx(t.ptr, info.Key, capacity, external, int32(info.Priority), info.Healthy)
	runtime.KeepAlive(t)
	if err != nil {
		return err
	}
	// A copy, so the cache never pins a larger buffer the key was cut from.
	t.keys.Store(e, strings.Clone(info.Key))
	return nil
}

// syncUpdate moves engine cur.Engine from the settings in cur to those in
// info.
func (t *Table) syncUpdate(cur EngineStats, info EngineInfo) error {
	h := cur.Engine
	// Values were checked by checkInfo, so the conversions below fit.
	capacity, _ := toU32(info.Capacity)
	external, _ := toU32(info.External)
	var steps []func() error
	setExt := func() error { return esSetExternal(t.ptr, h, external) }
	setCap := func() error { return esSetCapacity(t.ptr, h, capacity) }
	// Less room first.
	if info.External > cur.External {
		steps = append(steps, setExt)
	}
	if info.Capacity < cur.Capacity {
		steps = append(steps, setCap)
	}
	if info.Healthy != cur.Healthy {
		steps = append(steps, func() error { return esSetHealthy(t.ptr, h, info.Healthy) })
	}
	if info.Priority != cur.Priority {
		steps = append(steps, func() error { return esSetPriority(t.ptr, h, int32(info.Priority)) })
	}
	// Then more room.
	if info.External < cur.External {
		steps = append(steps, setExt)
	}
	if info.Capacity > cur.Capacity {
		steps = append(steps, setCap)
	}
	if cur.Draining {
		steps = append(steps, func() error { return esUndrain(t.ptr, h) })
	}
	var errs []error
	for _, step := range steps {
		if err := step(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
