package engineslots

import (
	"math/rand"
	"runtime"
	"sync/atomic"
	"time"
)

// gate lets Close free the C table only once no call is using it, without
// a lock on the hot path.
//
// Every call counts itself in (enter) and out (exit). Close sets closed,
// then waits until every count is zero. Go's atomics are sequentially
// consistent, so for each call either its increment comes before Close's
// store of closed (and Close's later read of that shard sees it, and
// waits) or after (and the call sees closed, backs out, and never touches
// the table). A shard reading zero therefore means every call that got in
// before closed was set has left.
//
// The count is split into shards on separate cache lines so that calls on
// different cores do not all bounce one line. Reserve picks a random shard
// and its Ticket keeps it, so Commit/Cancel/Release/Touch, usually run by
// the same goroutine soon after, hit a line that is already local.
// BenchmarkGate compares this with one shared counter: on the 2-core
// development machine both cost the same at GOMAXPROCS 2 (about 23 ns per
// cycle of three calls) and the shards cost ~2.5 ns more at GOMAXPROCS 1;
// the shards are for larger machines, where every core would otherwise
// bounce the one line on every call.
type gate struct {
	closed atomic.Bool
	_      [cacheLinePad - 4]byte
	shards [gateShards]gateShard
}

const (
	gateShards = 8 // a power of two
	// cacheLinePad separates written words. 128 bytes, not 64: the Table is
	// only 8-byte aligned, and the adjacent-line prefetcher pairs lines.
	cacheLinePad = 128
)

type gateShard struct {
	n atomic.Int64
	_ [cacheLinePad - 8]byte
}

// pick chooses a shard for a call that has none yet.
func pick() uint32 { return rand.Uint32() }

// enter counts a call in on shard s (any value; it is reduced mod the
// shard count) and returns the shard to pass to exit, or false if the gate
// is closed (then nothing is counted).
func (g *gate) enter(s uint32) (uint32, bool) {
	s &= gateShards - 1
	sh := &g.shards[s]
	sh.n.Add(1)
	if g.closed.Load() {
		sh.n.Add(-1)
		return 0, false
	}
	return s, true
}

// exit counts out a call that enter let in.
func (g *gate) exit(s uint32) { g.shards[s].n.Add(-1) }

// close shuts the gate and waits until no call is in flight. It returns
// false, at once, if the gate was already closed.
func (g *gate) close() bool {
	if !g.closed.CompareAndSwap(false, true) {
		return false
	}
	// Calls in flight are single non-blocking C calls (or short loops of
	// them, as in Sync): yield first, then sleep briefly.
	for spins := 0; g.busy(); spins++ {
		if spins < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
	return true
}

func (g *gate) busy() bool {
	for i := range g.shards {
		if g.shards[i].n.Load() != 0 {
			return true
		}
	}
	return false
}

func (g *gate) isClosed() bool { return g.closed.Load() }
