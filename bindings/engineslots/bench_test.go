//go:build cgo

package engineslots

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// The Reserve -> Commit -> Release cycle of one stream, three ways, in the
// same run (bench.sh prints the ratios):
//
//   - binding: this package's public API;
//   - cabi: the same three C calls with no gate, no Ticket and no key
//     lookup, to show what the binding itself costs;
//   - seed: the pure-Go mutex+map design of seed_test.go.
//
// Run with -cpu 1,2 for GOMAXPROCS 1 and 2; the Parallel variants run the
// cycle from GOMAXPROCS goroutines at once (b.RunParallel).

var benchEngines = []int{8, 64}

// benchCapacity is high enough that the parallel goroutines never find
// every engine full.
const benchCapacity = 1000

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("engine-%02d-0123456789abcdef", i)
	}
	return keys
}

func benchTable(b *testing.B, n int) *Table {
	tb := newTable(b, func(c *Config) { c.MaxEngines = n; c.MaxTickets = 4096 })
	for _, k := range benchKeys(n) {
		mustAdd(b, tb, k, benchCapacity)
	}
	return tb
}

func cycleBinding(b *testing.B, tb *Table) {
	k, err := tb.Reserve()
	if err != nil {
		b.Fatal(err)
	}
	if err := k.Commit(); err != nil {
		b.Fatal(err)
	}
	if err := k.Release(); err != nil {
		b.Fatal(err)
	}
}

func cycleCABI(b *testing.B, tb *Table) {
	c := tb.b.(*cBackend)
	st, id, _ := c.reserve()
	if st != statusOK || c.commit(id) != statusOK || c.release(id) != statusOK {
		b.Fatal("C cycle failed")
	}
}

func cycleSeed(b *testing.B, s *seedTable) {
	key, err := s.reserve()
	if err != nil {
		b.Fatal(err)
	}
	s.commit(key)
	s.release(key)
}

func BenchmarkCycle(b *testing.B) {
	for _, n := range benchEngines {
		b.Run(fmt.Sprintf("binding/engines=%d", n), func(b *testing.B) {
			tb := benchTable(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cycleBinding(b, tb)
			}
		})
		b.Run(fmt.Sprintf("cabi/engines=%d", n), func(b *testing.B) {
			tb := benchTable(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cycleCABI(b, tb)
			}
		})
		b.Run(fmt.Sprintf("seed/engines=%d", n), func(b *testing.B) {
			s := newSeedTable(benchKeys(n), benchCapacity)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cycleSeed(b, s)
			}
		})
	}
}

func BenchmarkCycleParallel(b *testing.B) {
	for _, n := range benchEngines {
		b.Run(fmt.Sprintf("binding/engines=%d", n), func(b *testing.B) {
			tb := benchTable(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					cycleBinding(b, tb)
				}
			})
		})
		b.Run(fmt.Sprintf("cabi/engines=%d", n), func(b *testing.B) {
			tb := benchTable(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					cycleCABI(b, tb)
				}
			})
		})
		b.Run(fmt.Sprintf("seed/engines=%d", n), func(b *testing.B) {
			s := newSeedTable(benchKeys(n), benchCapacity)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					cycleSeed(b, s)
				}
			})
		})
	}
}

// singleGate is the unsharded alternative to gate: one counter with the
// closed flag in its top bit. BenchmarkGate compares the two; the sharded
// gate is the one Table uses (see gate.go).
type singleGate struct {
	_ [cacheLinePad]byte
	n atomic.Int64
	_ [cacheLinePad - 8]byte
}

const singleClosed = int64(1) << 62

func (g *singleGate) enter() bool {
	if g.n.Add(1)&singleClosed != 0 {
		g.n.Add(-1)
		return false
	}
	return true
}

func (g *singleGate) exit() { g.n.Add(-1) }

// BenchmarkGate: the in-flight accounting of one Reserve/Commit/Release
// cycle (three enter/exit pairs, the last two on the ticket's shard) from
// GOMAXPROCS goroutines at once.
func BenchmarkGate(b *testing.B) {
	b.Run("sharded", func(b *testing.B) {
		var g gate
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s, _ := g.enter(pick())
				g.exit(s)
				for j := 0; j < 2; j++ {
					g.enter(s)
					g.exit(s)
				}
			}
		})
	})
	b.Run("single", func(b *testing.B) {
		var g singleGate
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				for j := 0; j < 3; j++ {
					g.enter()
					g.exit()
				}
			}
		})
	})
}

// BenchmarkKeyLookup: what Reserve pays to give its Ticket the engine's key,
// from the Table's cache (what it does) or from es_engine_stats_get (the
// fallback for an engine the cache does not know yet).
func BenchmarkKeyLookup(b *testing.B) {
	tb := benchTable(b, 8)
	e, _ := tb.FindEngine(benchKeys(8)[7])
	b.Run("cache", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if r := tb.recOf(e); r == nil || r.key == "" {
				b.Fatal("no key")
			}
		}
	})
	b.Run("cgo", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			st, err := tb.b.engineStats(e)
			if err != nil || st.Key == "" {
				b.Fatal("no key")
			}
		}
	})
}

// BenchmarkObservedRelease is BenchmarkCycle's binding cycle on engines
// Sync lists with ObservedTotals, where Release is es_release_as_external
// under a shard of the release lock, against the same engines listed by a
// plain Sync. Every 256 cycles each engine's external load is set back to
// 0 (in both), handing back the released units as a Sync with a report
// would. Not matched by bench.sh ('Cycle').
func BenchmarkObservedRelease(b *testing.B) {
	for _, observe := range []bool{false, true} {
		b.Run(fmt.Sprintf("observed=%v", observe), func(b *testing.B) {
			tb := newTable(b, func(c *Config) { c.MaxTickets = 1024 })
			var list []EngineInfo
			for _, k := range benchKeys(8) {
				list = append(list, EngineInfo{Key: k, Capacity: benchCapacity})
			}
			var opts []SyncOption
			if observe {
				opts = append(opts, ObservedTotals(time.Hour))
			}
			if err := tb.Sync(list, opts...); err != nil {
				b.Fatal(err)
			}
			var engines []Engine
			for _, s := range tb.Stats() {
				engines = append(engines, s.Engine)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				n := 0
				for pb.Next() {
					cycleBinding(b, tb)
					if n++; n%256 == 0 {
						for _, e := range engines {
							_ = tb.SetExternal(e, 0)
						}
					}
				}
			})
		})
	}
}
