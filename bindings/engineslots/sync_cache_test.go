package engineslots

import (
	"fmt"
	"testing"
	"time"
)

// A Sync with nothing changed takes no lock and makes no C call. On a
// table other processes share (a remote table) it cannot trust what it
// remembers: it reads the table once (one round trip), still with no lock
// and no change.
func TestSyncUnchangedIsFree(t *testing.T) {
	tb := newTable(t, func(c *Config) { c.MaxEngines = 64 })
	unchanged := func(what string, got map[string]int) {
		t.Helper()
		if tb.b.shared() {
			if len(got) != 1 || got["snapshot"] != 1 {
				t.Fatalf("%s on a shared table made calls %v, want one snapshot", what, got)
			}
		} else if len(got) != 0 {
			t.Fatalf("%s made C calls: %v", what, got)
		}
	}
	var list []EngineInfo
	for i := 0; i < 50; i++ {
		list = append(list, EngineInfo{Key: fmt.Sprintf("engine-%d", i), Capacity: 2, External: i % 2,
			Priority: i % 3, Unhealthy: i%5 == 0, Value: fmt.Sprintf("10.0.0.%d:80", i)})
	}
	c := countCalls(tb)
	wantErr(t, "first Sync", tb.Sync(list), nil)
	// (On a shared table an add is an add-or-find: another process may
	// have added the engine since the read.)
	// No look-up of the engines it just added (on a remote table, each
	// one a round trip).
	if got := c.take(); got["addEngine"]+got["addOrFind"] != 50 || got["engineStats"] != 0 {
		t.Fatalf("first Sync: %v", got)
	}

	// The same list, in a fresh slice with equal values: no C call, and no
	// lock (ctl is held by this test while it runs).
	same := append([]EngineInfo(nil), list...)
	tb.ctl.Lock()
	done := make(chan error)
	go func() { done <- tb.Sync(same) }()
	select {
	case err := <-done:
		wantErr(t, "unchanged Sync", err, nil)
	case <-time.After(10 * time.Second):
		t.Fatal("unchanged Sync waits for the lock")
	}
	tb.ctl.Unlock()
	unchanged("unchanged Sync", c.take())

	// A change made by hand invalidates what Sync remembers: the next
	// Sync with the same list looks, and puts the setting back.
	e, err := tb.FindEngine("engine-7")
	wantErr(t, "FindEngine", err, nil)
	wantErr(t, "SetCapacity", tb.SetCapacity(e, 9), nil)
	c.take()
	wantErr(t, "Sync after SetCapacity", tb.Sync(list), nil)
	if got := c.take(); got["snapshot"] == 0 || got["setCapacity"] != 1 {
		t.Fatalf("Sync after a change by hand: %v", got)
	}
	if statsOf(t, tb, e).Capacity != 2 {
		t.Fatal("capacity not restored")
	}
	c.take()
	wantErr(t, "Sync again", tb.Sync(list), nil)
	unchanged("unchanged Sync", c.take())

	// A changed entry (or value, or option) is applied.
	list[3].Value = "elsewhere"
	wantErr(t, "Sync with a new value", tb.Sync(list), nil)
	if got := c.take(); got["snapshot"] == 0 || len(got) != 1 {
		t.Fatalf("value change: %v", got) // values live in Go: one read of the table
	}
	if k, err := tb.ReserveKey("engine-3"); err != nil || k.Value() != "elsewhere" {
		t.Fatalf("value not applied: %v", err)
	} else {
		wantErr(t, "Finish", k.Finish(), nil)
	}
	c.take()
	wantErr(t, "Sync RemoveMissing", tb.Sync(list, RemoveMissing()), nil)
	if got := c.take(); got["snapshot"] == 0 {
		t.Fatalf("new options not looked at: %v", got)
	}
	wantErr(t, "Sync RemoveMissing again", tb.Sync(list, RemoveMissing()), nil)
	unchanged("unchanged Sync", c.take())

	// An engine drained and still busy keeps Sync looking (one read, no
	// lock) until it can remove it.
	k, err := tb.ReserveKey("engine-49")
	wantErr(t, "ReserveKey", err, nil)
	short := list[:49]
	wantErr(t, "Sync without engine-49", tb.Sync(short), nil)
	c.take()
	for i := 0; i < 2; i++ {
		wantErr(t, "Sync while engine-49 drains", tb.Sync(short), nil)
		if got := c.take(); len(got) != 1 || got["snapshot"] != 1 {
			t.Fatalf("Sync while an engine drains: %v", got)
		}
	}
	wantErr(t, "Finish", k.Finish(), nil)
	c.take()
	wantErr(t, "Sync removes engine-49", tb.Sync(short), nil)
	if got := c.take(); got["remove"] != 1 {
		t.Fatalf("drained engine not removed: %v", got)
	}
	wantErr(t, "Sync settled", tb.Sync(short), nil)
	unchanged("unchanged Sync", c.take())
}
