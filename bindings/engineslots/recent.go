package engineslots

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Recent commits and releases, for Sync's ObservedTotals mode.
//
// There an orchestrator reports each engine's total streams, ours
// included, up to a lag late. Sync subtracts from that total only those of
// our active streams the report surely contains: the ones committed more
// than lag ago. To know how many of an engine's active streams are that
// old, the Table counts commits per engine in time generations:
//
//   - a table-wide generation number advances (when Sync runs) once the
//     current generation is older than lag/16; each generation's start
//     time is kept in a ring;
//   - each engine record keeps a ring of (generation, commits still
//     active) words. Commit adds its ticket to the current generation
//     before the C commit and, if the generation moved meanwhile, moves it
//     to the new one after; Release/Cancel/Finish take it out;
//   - Sync sums the counts of the generations that overlap the window
//     [now-lag, now]: those tickets may not be reported yet.
//
// On an engine Sync manages that way (engineRec.observed), Release and
// Finish of an active ticket call es_release_as_external: the C table
// releases the ticket and counts its unit as external load in one atomic
// step, until the next set_external on the engine. The released ticket
// also moves to a second ring of the record, released, under its commit
// generation, and Sync adds to the external load the released tickets
// whose commit is within the window: their stream may have started too
// recently to be in the report while the engine still runs its tail.
//
// releaseLock makes each such release atomic with respect to Sync's
// derivation: releases hold it in read mode (a shard of it, so releases on
// different cores do not share a line), Sync holds every shard in write
// mode from the snapshot it derives external loads from until it has set
// them. Without it a release between the snapshot (our stream still
// active, subtracted from the report) and the set (which replaces the
// external count) would lose the released unit.
//
// Every imprecision counts a ticket as recent when it may not be (a
// generation that began before the window, a ticket that expired, a torn
// read, history shorter than the window), which makes Sync subtract less
// and count more streams as external: an engine may admit less for up to
// lag, never more. Nothing is counted until the first ObservedTotals Sync
// (the hot path then pays one atomic load); until lag has passed since, Sync
// subtracts nothing.

const (
	recentGens      = 32 // generations kept; the window needs about 17
	recentCountBits = 24 // count field of a ring word; the rest is the generation
	recentCountMask = 1<<recentCountBits - 1
	recentSteps     = 16 // a generation lasts at least lag/recentSteps
)

// monoEpoch anchors the monotonic clock readings of the observer.
var monoEpoch = time.Now()

func monoNow() int64 { return int64(time.Since(monoEpoch)) }

// observer is the table-wide generation clock.
type observer struct {
	enabled atomic.Bool
	once    sync.Once
	gen     atomic.Uint64 // current generation, from 1
	starts  [recentGens]genStart
}

// genStart is when generation gen began. Written at, then gen; a reader
// that finds gen as expected reads at (a torn read can only see a later
// start of a newer generation, which makes the window look less covered:
// the safe side).
type genStart struct {
	gen atomic.Uint64
	at  atomic.Int64
}

// start begins counting commits, once.
func (o *observer) start(now int64) {
	o.once.Do(func() {
		o.starts[1].at.Store(now)
		o.starts[1].gen.Store(1)
		o.gen.Store(1)
		o.enabled.Store(true)
	})
}

// rotate starts a new generation if the current one is older than step.
// Concurrent callers race on the generation number; one wins.
func (o *observer) rotate(now int64, lag time.Duration) {
	step := int64(lag / recentSteps)
	if step < int64(time.Millisecond) {
		step = int64(time.Millisecond)
	}
	cur := o.gen.Load()
	if at, ok := o.startOf(cur); ok && now-at < step {
		return
	}
	if o.gen.CompareAndSwap(cur, cur+1) {
		s := &o.starts[(cur+1)%recentGens]
		s.at.Store(now)
		s.gen.Store(cur + 1)
	}
}

func (o *observer) startOf(g uint64) (int64, bool) {
	s := &o.starts[g%recentGens]
	if s.gen.Load() != g {
		return 0, false
	}
	return s.at.Load(), true
}

// window returns the generations lo..hi that overlap [now-lag, now], or
// false if the kept history does not reach back to now-lag.
func (o *observer) window(now int64, lag time.Duration) (lo, hi uint64, ok bool) {
	if !o.enabled.Load() {
		return 0, 0, false
	}
	from := now - int64(lag)
	hi = o.gen.Load()
	for g := hi; g >= 1 && hi-g < recentGens; g-- {
		at, known := o.startOf(g)
		if !known {
			return 0, 0, false
		}
		if at <= from {
			return g, hi, true
		}
	}
	return 0, 0, false
}

// recentRing counts one engine's active commits per generation: each word
// is generation<<recentCountBits | count.
type recentRing [recentGens]atomic.Uint64

// add counts one commit in generation g, or in a newer one if the slot
// already moved on (the caller loaded g a while ago); it returns the
// generation counted in.
func (r *recentRing) add(o *observer, g uint64) uint64 {
	for {
		slot := &r[g%recentGens]
		old := slot.Load()
		og := old >> recentCountBits
		var nw uint64
		switch {
		case og == g:
			nw = old + 1 // fewer active tickets than the count field holds
		case og < g:
			nw = g<<recentCountBits | 1 // the slot's old generation is out of any window
		default:
			g = o.gen.Load()
			continue
		}
		if slot.CompareAndSwap(old, nw) {
			return g
		}
		// Another commit or finish on this engine changed the word: retry
		// on its new value.
	}
}

// sub takes one commit out of generation g, if the slot still counts g.
func (r *recentRing) sub(g uint64) {
	slot := &r[g%recentGens]
	for {
		old := slot.Load()
		if old>>recentCountBits != g || old&recentCountMask == 0 {
			return // the generation left the ring: nothing counts it any more
		}
		if slot.CompareAndSwap(old, old-1) {
			return
		}
	}
}

// addAt counts one in generation g itself: a released ticket, under its
// commit's generation. A slot that already moved on to a newer generation
// means g is out of every window: nothing to count. The count saturates.
func (r *recentRing) addAt(g uint64) {
	slot := &r[g%recentGens]
	for {
		old := slot.Load()
		og := old >> recentCountBits
		var nw uint64
		switch {
		case og == g && old&recentCountMask == recentCountMask:
			return
		case og == g:
			nw = old + 1
		case og < g:
			nw = g<<recentCountBits | 1
		default:
			return
		}
		if slot.CompareAndSwap(old, nw) {
			return
		}
	}
}

// sum is the count of generations lo..hi.
func (r *recentRing) sum(lo, hi uint64) int {
	n := 0
	for g := lo; g <= hi; g++ {
		if w := r[g%recentGens].Load(); w>>recentCountBits == g {
			n += int(w & recentCountMask)
		}
	}
	return n
}

// Ticket side.

// countCommit counts k as committed now, before the C commit, so that a
// Sync running during the commit sees it as recent. It returns the
// generation counted in, 0 if none.
func (k *Ticket) countCommit() uint64 {
	o := &k.t.obs
	if k.rec == nil || !o.enabled.Load() {
		return 0
	}
	g := k.rec.recent.add(o, o.gen.Load())
	if !k.gen.CompareAndSwap(0, g) { // a concurrent Commit of k counted it
		k.rec.recent.sub(g)
		return 0
	}
	k.rec.active.Add(1)
	return g
}

// committed moves k's count to the current generation if a new one began
// during the C commit: the commit happened no earlier than that.
func (k *Ticket) committed(g uint64) {
	if g == 0 {
		return
	}
	o := &k.t.obs
	if now := o.gen.Load(); now != g {
		n := k.rec.recent.add(o, now)
		if k.gen.CompareAndSwap(g, n) {
			k.rec.recent.sub(g)
		} else { // finished meanwhile
			k.rec.recent.sub(n)
		}
	}
}

// uncommit undoes countCommit's g after a failed commit.
func (k *Ticket) uncommit(g uint64) {
	if g != 0 && k.gen.CompareAndSwap(g, 0) {
		k.rec.recent.sub(g)
		k.rec.active.Add(-1)
	}
}

// uncount takes k out of the recent commits: it finished.
func (k *Ticket) uncount() {
	if k.gen.Load() == 0 {
		return // the usual case: not counted (a plain load, no locked instruction)
	}
	if g := k.gen.Swap(0); g != 0 {
		k.rec.recent.sub(g)
		k.rec.active.Add(-1)
	}
}

// uncountReleased takes k out of the recent commits after this Ticket's
// es_release_as_external, and counts it as released under its commit's
// generation. The caller holds the release lock in read mode.
func (k *Ticket) uncountReleased() {
	g := k.gen.Swap(0)
	if g != 0 {
		k.rec.recent.sub(g)
		k.rec.active.Add(-1)
	} else {
		// Committed before the Table kept commit times (or counted by a
		// racing Finish that found it already finished): its commit time
		// is not known, so count it as committed now.
		g = k.t.obs.gen.Load()
	}
	k.rec.released.addAt(g)
}

// releaseLock is a reader-writer lock split into shards on separate cache
// lines, like the gate: a release as external load read-locks the shard of
// its Ticket's gate shard, Sync write-locks them all (see the top of this
// file).
type releaseLock struct {
	_      [cacheLinePad]byte // away from the fields before it
	shards [gateShards]releaseShard
}

type releaseShard struct {
	mu sync.RWMutex
	_  [cacheLinePad - unsafe.Sizeof(sync.RWMutex{})]byte
}

func (l *releaseLock) lock() {
	for i := range l.shards {
		l.shards[i].mu.Lock()
	}
}

func (l *releaseLock) unlock() {
	for i := range l.shards {
		l.shards[i].mu.Unlock()
	}
}
