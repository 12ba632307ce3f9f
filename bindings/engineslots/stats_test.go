package engineslots

import (
	"fmt"
	"testing"
	"time"
)

func TestStats(t *testing.T) {
	tb := newTable(t, func(c *Config) { c.MaxEngines = 200; c.PendingLease = 10 * time.Millisecond })
	clock := leaseClockOf(t, tb)
	if s := tb.Stats(); len(s) != 0 {
		t.Fatalf("empty table: %v", s)
	}
	a := mustAdd(t, tb, "a", 5)
	wantErr(t, "SetHealthy", tb.SetHealthy(a, false), nil)
	wantErr(t, "SetPriority", tb.SetPriority(a, -7), nil)
	wantErr(t, "SetExternal", tb.SetExternal(a, 1), nil)
	k1 := mustReserve(t, tb)
	wantErr(t, "Commit", k1.Commit(), nil)
	mustReserve(t, tb) // expires
	clock.advance(30 * time.Millisecond)
	if tb.ReclaimExpired() != 1 {
		t.Fatal("no reclaim")
	}
	mustReserve(t, tb)
	wantErr(t, "Drain", tb.Drain(a), nil)
	got := statsOf(t, tb, a)
	want := EngineStats{Engine: a, Key: "a", Capacity: 5, Active: 1, Pending: 1, External: 1,
		Priority: -7, Healthy: false, Draining: true, ReservedTotal: 3, ExpiredTotal: 1}
	if got != want {
		t.Fatalf("Stats\n got %+v\nwant %+v", got, want)
	}

	// More engines than the last call saw: the buffer grows.
	for i := 0; i < 150; i++ {
		mustAdd(t, tb, fmt.Sprintf("engine-%03d", i), 1)
	}
	all := tb.Stats()
	if len(all) != 151 {
		t.Fatalf("Stats has %d engines", len(all))
	}
	seen := map[string]bool{}
	for _, s := range all {
		seen[s.Key] = true
	}
	if !seen["a"] || !seen["engine-149"] || len(seen) != 151 {
		t.Fatal("Stats lost engines")
	}
	if c := tb.TicketCounts(); c.Active != 1 || c.Pending != 1 || c.Free != 254 {
		t.Fatalf("TicketCounts %+v", c)
	}
}
