package engineslots

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// SyncOption changes what Sync does: RemoveMissing, IncludePinned,
// ObservedTotals.
type SyncOption func(*syncOptions)

type syncOptions struct {
	removeMissing, includePinned, observed bool
	lag                                    time.Duration
}

// RemoveMissing makes Sync remove the engines missing from the list at
// once, instead of draining them first. Their tickets stay valid handles
// that can only be finished (see Remove), so streams already running on
// them are no longer counted anywhere.
func RemoveMissing() SyncOption {
	return func(o *syncOptions) { o.removeMissing = true }
}

// IncludePinned makes Sync drain and remove pinned engines (those added by
// AddEngine, AddEngineWith or AddOrFind) that are missing from the list,
// like the others. Without it Sync leaves them alone when they are not
// listed (and updates them when they are).
func IncludePinned() SyncOption {
	return func(o *syncOptions) { o.includePinned = true }
}

// ObservedTotals makes Sync read each entry's Streams as the
// orchestrator's total count of streams on the engine, this table's
// included, reported up to lag late, and derive the engine's external load
// from it (External is ignored):
//
//	external = max(0, Streams - A) + R
//	A = our active streams on the engine committed more than lag ago
//	R = our streams on it released since, committed within the last lag
//
// Our active streams are counted by the table itself (active); external is
// everything else the engine may be running.
//
// Releases. On an engine Sync manages this way, Release (and Finish of an
// active ticket) does not free the stream's slot at once: in the same
// atomic step as the release (es_release_as_external), the stream's unit
// becomes external load, and it stays so until the next Sync derives the
// external load afresh. When we release a stream the engine may already
// have ended it (we were still sending the tail) or may still be running
// the end of it; only a report tells which, so the slot comes back with a
// report. A release and Sync's derivation exclude each other (a release
// waits while Sync reads the table and sets external loads), so Sync never
// sets a value computed from a table read before a release, which would
// drop the released unit. Releases on other engines and every Cancel stay
// lock-free and free their slot at once; so does the table when it
// reclaims a ticket whose lease ran out. Keep calling Sync: released slots
// come back only when it runs, and a stream committed less than lag before
// its release keeps its slot until its commit is lag old (R, below), so in
// this mode a stream holds its slot for at least lag.
//
// The lag is handled on the safe side in both directions:
//
//   - A stream we committed within lag may not be in the report yet, so
//     Sync does not subtract it: the table counts it (it is active) and
//     the report does not, which is exact. If the report already has it,
//     it counts twice until it is lag old: the engine admits one stream
//     less per such stream, for about lag.
//   - A stream we released is no longer ours, so the report's count of it
//     is external, never subtracted: it stays counted for as long as the
//     report has it, and its slot comes back with the first Sync whose
//     report no longer has it (at the latest lag after the engine ended it).
//     The released unit is not added on top of that: the next Sync replaces
//     it. If the stream was committed within lag, the report may not show
//     it yet while the engine still runs its end: R keeps it counted until
//     its commit is lag old (twice meanwhile if the report has it).
//   - The other way round, a stream the engine ended before we release it
//     (lag old, so subtracted, while the report no longer has it) makes
//     external one lower while we hold it: the table's total stays right,
//     since our active count still has it; its release turns it into the
//     external unit, and the next Sync no longer subtracts it. At no step
//     does the table see room the engine does not have.
//
// Neither direction ever admits a stream the engine has no room for, as
// long as each of our streams starts on its engine before its Commit and
// lag is at least the orchestrator's real delay, counted from the moment
// whose state the report shows to the moment Sync runs (a report older than
// lag may subtract a stream it does not contain). Other proxies' streams
// count from when the report shows them: no table can know them sooner.
// "lag old" is measured in steps of lag/16, or of the time between Syncs if
// they are further apart, rounding toward "recent". The table starts
// keeping commit times at the first Sync with ObservedTotals; for the first
// lag after it, Sync subtracts nothing, and a stream committed before it is
// counted in R, when released, as if committed at its release.
//
// SetExternal on such an engine replaces the derived value and the released
// units until the next Sync. An engine the list no longer names keeps its
// last external load, and releases on it free their slot at once again.
// On a shared or remote table only this process's streams are subtracted,
// and only those it committed since its first Sync with ObservedTotals:
// other processes' streams (and its own older ones) are counted both as
// active and as external (safe, but engines admit less), so use it there
// when one process serves the streams.
func ObservedTotals(lag time.Duration) SyncOption {
	return func(o *syncOptions) { o.observed, o.lag = true, lag }
}

// Sync reconciles the table with the full list of engines an orchestrator
// reports, so a proxy can call it on every refresh, or on every request:
//
//   - an engine in the list but not in the table is added, with all its
//     settings and its value in place from the first instant (one C call:
//     no reservation ever sees it without its external load or health);
//   - an engine in both is updated where it differs; if it was draining it
//     is undrained (it reappeared), after its new limits are set;
//   - an engine in the table but not in the list is drained: it admits
//     nothing new while its streams finish. A later Sync that still does
//     not list it removes it once it has no pending or active ticket, so
//     slots of engines that went away are freed. With RemoveMissing it is
//     removed at once instead. Pinned engines (added by hand, see
//     AddEngine) are left alone unless IncludePinned is given.
//
// Changes that reduce an engine's room (more external streams, a lower
// capacity) are applied before those that add room, so no intermediate
// state admits more than either the old or the new settings would.
//
// A Sync that changes nothing is cheap: when the list and options equal the
// last ones Sync applied (Value compared with ==) and nothing changed the
// engines since, Sync returns at once, with no lock and no C call.
// Otherwise it reads the table once (one C call) and compares; only if
// something differs does it take the lock (serializing it with other Syncs,
// adds and removes, and with the releases that ObservedTotals turns into
// external load), read the table again and apply the changes. ObservedTotals, a shared table
// and engines drained but still busy always take the one-read path, since
// the table may have moved without this Table knowing.
//
// Sync applies everything it can: the result joins one error per change it
// could not apply (an invalid key or value, a key listed twice, ErrTableFull
// when no engine slot is free, ...), each naming the key and wrapping the
// sentinel, so errors.Is works on it. Reserve and the ticket calls run
// concurrently with it.
func (t *Table) Sync(engines []EngineInfo, opts ...SyncOption) error {
	var o syncOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.lag < 0 {
		return t.invalid()
	}
	_, err := call(t, func() (struct{}, error) { return struct{}{}, t.sync(engines, o) })
	return err
}

// syncState is the last list Sync applied, immutable once stored. It is
// valid while version still equals the Table's: every change to an
// engine's settings, value or pin made through the Table bumps the version
// after making it, and Sync reads the version before it reads the table.
type syncState struct {
	list    []EngineInfo
	opts    syncOptions
	version uint64
}

func (t *Table) sync(engines []EngineInfo, o syncOptions) error {
	if c := t.synced.Load(); c != nil && c.version == t.version.Load() && c.opts == o &&
		sameList(c.list, engines) {
		return nil
	}
	if o.observed {
		now := monoNow()
		t.obs.start(now)
		t.obs.rotate(now, o.lag)
	}
	// Plan against the table as it is, without the lock: when nothing
	// needs doing, done.
	v := t.version.Load()
	snap, err := t.b.snapshot(t.cachedKey)
	if err != nil {
		return err
	}
	p := t.plan(engines, snap, o)
	if len(p.ops) == 0 {
		t.remember(engines, o, v, &p)
		return p.err()
	}

	t.ctl.Lock()
	defer t.ctl.Unlock()
	// From the snapshot to the last change, no release turns a stream into
	// external load (recent.go): the external loads derived from the
	// snapshot are set before any release can add a unit that they would
	// overwrite. Releases outside ObservedTotals never take this lock.
	t.rel.lock()
	defer t.rel.unlock()
	v = t.version.Load()
	if snap, err = t.b.snapshot(t.cachedKey); err != nil {
		return err
	}
	p = t.plan(engines, snap, o)
	if len(p.ops) > 0 {
		t.apply(&p)
		if !t.version.CompareAndSwap(v, v+1) {
			// Engines changed meanwhile outside Sync: remember nothing.
			t.changed()
			return p.err()
		}
		v++
	}
	if t.b.shared() {
		t.pruneRecs(snap, p.added)
	}
	t.remember(engines, o, v, &p)
	return p.err()
}

// remember caches the list Sync just found applied at version v, when a
// later Sync may trust it without looking at the table.
func (t *Table) remember(engines []EngineInfo, o syncOptions, v uint64, p *syncPlan) {
	if o.observed || p.waiting || len(p.errs) > 0 || t.b.shared() {
		return
	}
	t.synced.Store(&syncState{list: append([]EngineInfo(nil), engines...), opts: o, version: v})
}

func sameList(a, b []EngineInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Key != y.Key || x.Capacity != y.Capacity || x.Unhealthy != y.Unhealthy ||
			x.Priority != y.Priority || x.External != y.External || x.Streams != y.Streams ||
			!sameValue(x.Value, y.Value) {
			return false
		}
	}
	return true
}

// sameValue is a == b, false where == would panic (values of types that
// cannot be compared).
func sameValue(a, b any) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// syncPlan is what Sync must do to move the table to a list: the changes
// in order, and the entries it cannot apply.
type syncPlan struct {
	ops  []syncOp
	errs []error
	// waiting: an engine missing from the list is draining with tickets
	// left; a later Sync removes it.
	waiting bool
	// added: the engines apply added (or found), live after the read.
	added []Engine
}

type syncOpKind uint8

const (
	opAdd syncOpKind = iota
	opObserve
	opExternal
	opCapacity
	opHealthy
	opPriority
	opUndrain
	opValue
	opDrain
	opRemove
)

type syncOp struct {
	kind  syncOpKind
	key   string
	e     Engine
	spec  engineSpec // opAdd; opExternal and opCapacity read its fields
	value any        // opAdd, opValue
	// observe: whether Sync derives the engine's external load from
	// observed totals (opAdd, opObserve; see engineRec.observed).
	observe bool
}

func (p *syncPlan) fail(key string, err error) {
	p.errs = append(p.errs, fmt.Errorf("engineslots: sync %q: %w", key, err))
}

func (p *syncPlan) err() error { return errors.Join(p.errs...) }

// plan compares the list with snap, the table's engines.
func (t *Table) plan(engines []EngineInfo, snap []EngineStats, o syncOptions) syncPlan {
	var p syncPlan
	byKey := make(map[string]*EngineStats, len(snap))
	for i := range snap {
		byKey[snap[i].Key] = &snap[i]
	}
	var w recentWindow
	if o.observed {
		w.lo, w.hi, w.ok = t.obs.window(monoNow(), o.lag)
	}
	listed := make(map[string]bool, len(engines))
	for i := range engines {
		info := &engines[i]
		if listed[info.Key] {
			p.fail(info.Key, fmt.Errorf("listed twice: %w", ErrInvalid))
			continue
		}
		listed[info.Key] = true
		spec, err := info.spec()
		if err != nil {
			p.fail(info.Key, err)
			continue
		}
		if spec.capacity == 0 {
			spec.capacity = uint32(t.cfg.DefaultCapacity)
		}
		cur := byKey[info.Key]
		var rec *engineRec
		if cur != nil {
			rec = t.recOfKnown(cur.Engine)
		}
		if o.observed {
			spec.external = t.observedExternal(info.Streams, cur, rec, w)
		}
		if cur == nil {
			p.ops = append(p.ops, syncOp{kind: opAdd, key: info.Key, spec: spec, value: info.Value, observe: o.observed})
			continue
		}
		if (rec == nil && o.observed) || (rec != nil && rec.observed.Load() != o.observed) {
			// First, so that no release between the changes sees the
			// engine's external load derived one way and released the other.
			p.ops = append(p.ops, syncOp{kind: opObserve, key: info.Key, e: cur.Engine, observe: o.observed})
		}
		var value any
		if rec != nil {
			value = rec.loadValue()
		}
		p.update(cur, spec, !sameValue(value, info.Value), info.Value)
	}
	for i := range snap {
		cur := &snap[i]
		if listed[cur.Key] {
			continue
		}
		rec := t.recOfKnown(cur.Engine)
		if rec != nil && rec.observed.Load() {
			// Not listed: Sync no longer sets its external load, so no
			// release may leave a unit there for it to replace.
			p.ops = append(p.ops, syncOp{kind: opObserve, key: cur.Key, e: cur.Engine})
		}
		if rec != nil && rec.pinned.Load() && !o.includePinned {
			continue
		}
		op := syncOp{key: cur.Key, e: cur.Engine}
		switch {
		case o.removeMissing || (cur.Draining && cur.Active+cur.Pending == 0):
			op.kind = opRemove
		case !cur.Draining:
			op.kind = opDrain
			p.waiting = true
		default:
			p.waiting = true
			continue
		}
		p.ops = append(p.ops, op)
	}
	return p
}

// update plans moving engine cur to spec: changes that take room away
// first, then those that give room.
func (p *syncPlan) update(cur *EngineStats, spec engineSpec, valueDiffers bool, value any) {
	op := func(kind syncOpKind) {
		p.ops = append(p.ops, syncOp{kind: kind, key: cur.Key, e: cur.Engine, spec: spec, value: value})
	}
	external, capacity := int64(spec.external), int64(spec.capacity)
	if external > int64(cur.External) {
		op(opExternal)
	}
	if capacity < int64(cur.Capacity) {
		op(opCapacity)
	}
	if spec.healthy != cur.Healthy {
		op(opHealthy)
	}
	if int(spec.priority) != cur.Priority {
		op(opPriority)
	}
	if external < int64(cur.External) {
		op(opExternal)
	}
	if capacity > int64(cur.Capacity) {
		op(opCapacity)
	}
	if cur.Draining {
		op(opUndrain)
	}
	if valueDiffers {
		op(opValue)
	}
}

// apply carries out a plan. The caller is inside the gate and holds ctl
// and the release lock.
func (t *Table) apply(p *syncPlan) {
	for i := range p.ops {
		op := &p.ops[i]
		var err error
		switch op.kind {
		case opAdd:
			rec := newRec(op.key, op.value, false)
			rec.observed.Store(op.observe)
			var e Engine
			var created bool
			e, created, err = t.add(rec, func(key string) (Engine, bool, error) {
				if t.b.shared() {
					// Another process may have added it since the
					// table was read (proxies that share a table all
					// Sync the same list): found, not ErrExists.
					return t.b.addOrFind(key, &op.spec)
				}
				e, err := t.b.addEngine(key, &op.spec)
				return e, err == nil, err
			})
			if err == nil {
				p.added = append(p.added, e)
				if !created {
					t.adopt(p, e, op)
				}
			}
		case opObserve:
			// recOf makes the record of an engine this Table has not met
			// yet (another process's, in a shared table).
			if r := t.recOf(op.e); r != nil {
				r.observed.Store(op.observe)
			}
		case opExternal:
			err = t.b.setExternal(op.e, op.spec.external)
		case opCapacity:
			err = t.b.setCapacity(op.e, op.spec.capacity)
		case opHealthy:
			err = t.b.setHealthy(op.e, op.spec.healthy)
		case opPriority:
			err = t.b.setPriority(op.e, op.spec.priority)
		case opUndrain:
			err = t.b.undrain(op.e)
		case opValue:
			if r := t.recOf(op.e); r != nil {
				r.setValue(op.value)
			} else {
				err = ErrStale
			}
		case opDrain:
			err = t.b.drain(op.e)
		case opRemove:
			err = t.remove(op.e)
		}
		if err != nil {
			p.fail(op.key, err)
		}
	}
}

// adopt applies the add op to engine e, which another process added to the
// shared table after this Sync read it: e is updated as an engine the read
// had found (settings, undrain, value, observed), with this Sync's locks;
// what fails is p's.
func (t *Table) adopt(p *syncPlan, e Engine, op *syncOp) {
	cur, err := t.b.engineStats(e)
	r := t.recOf(e)
	if err == nil && r == nil {
		err = ErrStale
	}
	if err != nil {
		p.fail(op.key, err)
		return
	}
	r.observed.Store(op.observe)
	var q syncPlan
	q.update(&cur, op.spec, !sameValue(r.loadValue(), op.value), op.value)
	t.apply(&q)
	p.errs = append(p.errs, q.errs...)
}

// recOfKnown is e's record if the Table has one (no C call), else nil.
func (t *Table) recOfKnown(e Engine) *engineRec {
	if r, ok := t.recs.Load(e); ok {
		return r.(*engineRec)
	}
	return nil
}

// recentWindow is the generations of commits that may not be reported yet
// (observer.window); ok false: unknown, count every stream as unreported.
type recentWindow struct {
	lo, hi uint64
	ok     bool
}

// observedExternal derives an engine's external load from the
// orchestrator's total (see ObservedTotals): the total minus our active
// streams old enough to be in it, plus the streams we released whose
// commit is recent enough that the report may not have them yet. Every
// uncertainty subtracts less and adds more.
func (t *Table) observedExternal(streams int, cur *EngineStats, rec *engineRec, w recentWindow) uint32 {
	reported, released := 0, 0
	if cur != nil && rec != nil {
		if w.ok {
			active := cur.Active
			if t.b.shared() {
				// Other processes' streams are active here too, but their
				// commit times are not known: count only this process's.
				active = min(active, int(rec.active.Load()))
			}
			reported = max(0, active-rec.recent.sum(w.lo, w.hi))
			released = rec.released.sum(w.lo, w.hi)
		} else if hi := t.obs.gen.Load(); hi > 0 {
			// The history does not reach back lag: every kept generation
			// is within it.
			released = rec.released.sum(hi-min(hi-1, recentGens-1), hi)
		}
	}
	// streams was checked by spec; the sum saturates like the C count.
	ext, ok := toU32(max(0, streams-reported) + released)
	if !ok {
		ext = math.MaxUint32
	}
	return ext
}
