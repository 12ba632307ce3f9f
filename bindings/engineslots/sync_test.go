package engineslots

import (
	"errors"
	"strings"
	"testing"
)

// byKey is Stats indexed by key.
func byKey(tb *Table) map[string]EngineStats {
	m := map[string]EngineStats{}
	for _, s := range tb.Stats() {
		m[s.Key] = s
	}
	return m
}

func TestSync(t *testing.T) {
	tb := newTable(t, func(c *Config) { c.DefaultCapacity = 3 })
	err := tb.Sync([]EngineInfo{
		{Key: "a", Capacity: 2},
		{Key: "b", Unhealthy: true, Priority: 4, External: 1},
	})
	wantErr(t, "first Sync", err, nil)
	m := byKey(tb)
	if len(m) != 2 {
		t.Fatalf("engines %v", m)
	}
	if a := m["a"]; a.Capacity != 2 || !a.Healthy || a.Draining {
		t.Fatalf("a: %+v", a)
	}
	if b := m["b"]; b.Capacity != 3 || b.Healthy || b.Priority != 4 || b.External != 1 {
		t.Fatalf("b: %+v", b)
	}
	// Tickets know the keys of engines Sync added.
	k := mustReserve(t, tb)
	if k.Key() != "a" {
		t.Fatalf("reserved on %q", k.Key())
	}

	// b disappears: drained, not removed, while a is updated.
	err = tb.Sync([]EngineInfo{{Key: "a", Capacity: 4, Unhealthy: true, Priority: -1, External: 2}})
	wantErr(t, "second Sync", err, nil)
	m = byKey(tb)
	if a := m["a"]; a.Capacity != 4 || a.Healthy || a.Priority != -1 || a.External != 2 || a.Pending != 1 {
		t.Fatalf("a: %+v", a)
	}
	if b := m["b"]; !b.Draining {
		t.Fatalf("b: %+v", b)
	}
	bEngine := m["b"].Engine

	// b reappears: undrained, same engine.
	err = tb.Sync([]EngineInfo{{Key: "a", Capacity: 4, Unhealthy: true, External: 2}, {Key: "b", Capacity: 3}})
	wantErr(t, "third Sync", err, nil)
	m = byKey(tb)
	if b := m["b"]; b.Draining || b.Engine != bEngine || !b.Healthy || b.Priority != 0 || b.External != 0 {
		t.Fatalf("b after reappearing: %+v", b)
	}

	// Unchanged list: nothing changes.
	before := byKey(tb)
	wantErr(t, "idempotent Sync", tb.Sync([]EngineInfo{{Key: "a", Capacity: 4, Unhealthy: true, External: 2},
		{Key: "b", Capacity: 3}}), nil)
	after := byKey(tb)
	for key, s := range before {
		if after[key] != s {
			t.Fatalf("%s changed: %+v -> %+v", key, s, after[key])
		}
	}

	// a leaves while it has a ticket: drained, and kept by later Syncs
	// until the ticket finishes; then removed.
	wantErr(t, "Sync without a", tb.Sync([]EngineInfo{{Key: "b", Capacity: 3}}), nil)
	wantErr(t, "Sync without a again", tb.Sync([]EngineInfo{{Key: "b", Capacity: 3}}), nil)
	if a, ok := byKey(tb)["a"]; !ok || !a.Draining {
		t.Fatalf("a with a ticket: %+v %v", a, ok)
	}
	wantErr(t, "Cancel", k.Cancel(), nil)
	wantErr(t, "Sync after a is idle", tb.Sync([]EngineInfo{{Key: "b", Capacity: 3}}), nil)
	if _, ok := byKey(tb)["a"]; ok {
		t.Fatal("idle drained a not removed")
	}
	_, err = tb.FindEngine("a")
	wantErr(t, "FindEngine a", err, ErrNotFound)

	// a comes back: added anew.
	wantErr(t, "Sync with a back", tb.Sync([]EngineInfo{{Key: "a", Capacity: 1, Unhealthy: true}, {Key: "b", Capacity: 3}}), nil)
	if a, ok := byKey(tb)["a"]; !ok || a.Draining || a.Capacity != 1 || a.Healthy {
		t.Fatalf("a back: %+v %v", a, ok)
	}
}

func TestSyncRemoveMissing(t *testing.T) {
	tb := newTable(t)
	wantErr(t, "Sync", tb.Sync([]EngineInfo{{Key: "a"}, {Key: "b"}}), nil)
	a, _ := tb.FindEngine("a")
	k, err := tb.ReserveOn(a)
	wantErr(t, "ReserveOn", err, nil)
	wantErr(t, "Sync RemoveMissing", tb.Sync([]EngineInfo{{Key: "b"}}, RemoveMissing()), nil)
	if _, ok := byKey(tb)["a"]; ok {
		t.Fatal("a not removed")
	}
	wantErr(t, "Cancel on removed engine", k.Cancel(), nil)
	wantErr(t, "Sync empty", tb.Sync(nil, RemoveMissing()), nil)
	if len(tb.Stats()) != 0 {
		t.Fatal("engines left")
	}
}

func TestSyncErrors(t *testing.T) {
	tb := newTable(t, func(c *Config) { c.MaxEngines = 3 })
	err := tb.Sync([]EngineInfo{
		{Key: "ok1", Capacity: 1},
		{Key: "", Capacity: 1},                    // bad key
		{Key: strings.Repeat("x", maxKeyLen()+1)}, // bad key
		{Key: "neg", Capacity: -1},                // bad capacity
		{Key: "big", Capacity: 5000},              // rejected by C
		{Key: "ext", External: -3},                // bad external
		{Key: "prio", Priority: 1 << 40},          // outside int32
		{Key: "ok1", Capacity: 2},                 // listed twice
		{Key: "ok2", Capacity: 2},                 // fine
		{Key: "ok3", Capacity: 2},                 // fine
		{Key: "full", Capacity: 2},                // no slot left
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []error{ErrInvalid, ErrTableFull} {
		if !errors.Is(err, want) {
			t.Fatalf("%v does not wrap %v", err, want)
		}
	}
	for _, key := range []string{`"neg"`, `"big"`, `"ext"`, `"prio"`, `"ok1"`, `"full"`} {
		if !strings.Contains(err.Error(), key) {
			t.Fatalf("error does not name %s: %v", key, err)
		}
	}
	m := byKey(tb)
	if len(m) != 3 || m["ok1"].Capacity != 1 || m["ok2"].Capacity != 2 || m["ok3"].Capacity != 2 {
		t.Fatalf("valid entries not applied: %v", m)
	}
}

// The zero value of EngineInfo is a healthy engine, whether Sync or
// AddEngineWith adds it, as with AddEngine.
func TestEngineInfoZeroValueIsHealthy(t *testing.T) {
	tb := newTable(t)
	wantErr(t, "Sync", tb.Sync([]EngineInfo{{Key: "synced"}}), nil)
	with, err := tb.AddEngineWith(EngineInfo{Key: "with"})
	wantErr(t, "AddEngineWith", err, nil)
	found, _, err := tb.AddOrFind(EngineInfo{Key: "found"})
	wantErr(t, "AddOrFind", err, nil)
	plain := mustAdd(t, tb, "plain", 0)
	m := byKey(tb)
	for _, key := range []string{"synced", "with", "found", "plain"} {
		s := m[key]
		if !s.Healthy || s.Draining || s.Priority != 0 || s.External != 0 || s.Capacity != tb.Config().DefaultCapacity {
			t.Errorf("%s: %+v", key, s)
		}
	}
	_ = with
	_ = found
	_ = plain
	wantErr(t, "Sync unhealthy", tb.Sync([]EngineInfo{{Key: "synced", Unhealthy: true}}), nil)
	if byKey(tb)["synced"].Healthy {
		t.Fatal("Unhealthy not applied")
	}
}

// Engines added by hand are pinned: Sync updates them when it lists them
// but never drains or removes them, unless IncludePinned.
func TestSyncPinned(t *testing.T) {
	tb := newTable(t)
	hand := mustAdd(t, tb, "hand", 1)
	with, err := tb.AddEngineWith(EngineInfo{Key: "with", Capacity: 1})
	wantErr(t, "AddEngineWith", err, nil)
	aof, _, err := tb.AddOrFind(EngineInfo{Key: "aof", Capacity: 1})
	wantErr(t, "AddOrFind", err, nil)
	wantErr(t, "Sync", tb.Sync([]EngineInfo{{Key: "synced"}}), nil)
	// AddOrFind that finds a Sync-managed engine does not pin it.
	if _, created, _ := tb.AddOrFind(EngineInfo{Key: "synced"}); created {
		t.Fatal("created twice")
	}

	for i := 0; i < 3; i++ { // drain, then remove, then nothing left to do
		wantErr(t, "Sync without them", tb.Sync(nil), nil)
	}
	m := byKey(tb)
	for _, e := range []Engine{hand, with, aof} {
		s := statsOf(t, tb, e)
		if s.Draining {
			t.Fatalf("pinned %s drained", s.Key)
		}
	}
	if _, ok := m["synced"]; ok {
		t.Fatal("synced engine not removed")
	}

	// Listed, a pinned engine is updated like any other, and stays pinned.
	wantErr(t, "Sync listing hand", tb.Sync([]EngineInfo{{Key: "hand", Capacity: 5, Priority: 3}}), nil)
	if s := statsOf(t, tb, hand); s.Capacity != 5 || s.Priority != 3 {
		t.Fatalf("hand not updated: %+v", s)
	}
	wantErr(t, "Sync without hand", tb.Sync(nil), nil)
	if statsOf(t, tb, hand).Draining {
		t.Fatal("pinned engine drained after being listed")
	}

	// IncludePinned: missing pinned engines are drained, then removed
	// once idle (or at once with RemoveMissing).
	k, err := tb.ReserveOn(hand)
	wantErr(t, "ReserveOn", err, nil)
	wantErr(t, "Sync IncludePinned", tb.Sync([]EngineInfo{{Key: "aof", Capacity: 1}}, IncludePinned()), nil)
	if !statsOf(t, tb, hand).Draining || !statsOf(t, tb, with).Draining || statsOf(t, tb, aof).Draining {
		t.Fatalf("IncludePinned: %v", tb.Stats())
	}
	wantErr(t, "Sync IncludePinned again", tb.Sync([]EngineInfo{{Key: "aof", Capacity: 1}}, IncludePinned()), nil)
	if m := byKey(tb); len(m) != 2 || !m["hand"].Draining {
		t.Fatalf("after second IncludePinned Sync: %v", m)
	}
	wantErr(t, "Cancel", k.Cancel(), nil)
	wantErr(t, "Sync IncludePinned idle", tb.Sync([]EngineInfo{{Key: "aof", Capacity: 1}}, IncludePinned()), nil)
	if m := byKey(tb); len(m) != 1 {
		t.Fatalf("idle pinned engine not removed: %v", m)
	}
	wantErr(t, "Sync IncludePinned RemoveMissing", tb.Sync(nil, IncludePinned(), RemoveMissing()), nil)
	if m := byKey(tb); len(m) != 0 {
		t.Fatalf("RemoveMissing with IncludePinned: %v", m)
	}
}

// sharedPair is two Tables on one table that both may change: two opens
// of a remote table, or of a shared file on the local backend.
func sharedPair(t *testing.T, cfg Config) (*Table, *Table) {
	t.Helper()
	if remoteTests() {
		a, err := openTestTable(t, cfg)
		wantErr(t, "open", err, nil)
		return a, otherTable(t, a)
	}
	path := t.TempDir() + "/pair.table"
	a, err := OpenShared(path, &cfg)
	wantErr(t, "OpenShared", err, nil)
	t.Cleanup(func() { _ = a.Close() })
	b, err := OpenShared(path, nil)
	wantErr(t, "OpenShared", err, nil)
	t.Cleanup(func() { _ = b.Close() })
	return a, b
}

// Proxies that share a table all Sync the same list: an engine another
// process adds between this Sync's read of the table and its own add is
// found and brought to this list's settings, not an ErrExists.
func TestSyncSharedConcurrentAdd(t *testing.T) {
	a, b := sharedPair(t, Config{MaxEngines: 4, MaxTickets: 16, DefaultCapacity: 2})
	h := &snapHook{backend: b.b, n: 2} // 1: the read without the lock; 2: under it
	h.hook = func() {
		wantErr(t, "a's Sync", a.Sync([]EngineInfo{{Key: "x", Capacity: 1, Unhealthy: true, Value: "a's"}}), nil)
	}
	b.b = h
	wantErr(t, "b's Sync", b.Sync([]EngineInfo{{Key: "x", Capacity: 3, Value: "b's"}}), nil)
	b.b = h.backend
	if h.calls.Load() < 2 {
		t.Fatalf("b's Sync read the table %d times", h.calls.Load())
	}
	m := byKey(b)
	if x := m["x"]; len(m) != 1 || x.Capacity != 3 || !x.Healthy || x.Draining {
		t.Fatalf("after both Syncs: %+v", m)
	}
	k, err := b.ReserveKey("x")
	wantErr(t, "ReserveKey", err, nil)
	if k.Value() != "b's" {
		t.Fatalf("b's value %v", k.Value())
	}
	wantErr(t, "Finish", k.Finish(), nil)
	if k, err := a.ReserveKey("x"); err != nil || k.Value() != "a's" {
		t.Fatalf("a's ticket: %v", err)
	} else {
		wantErr(t, "Finish", k.Finish(), nil)
	}
	// Not pinned in b: b's Sync drains it when its list drops it.
	wantErr(t, "b's Sync without x", b.Sync(nil), nil)
	if !byKey(a)["x"].Draining {
		t.Fatal("an engine b's Sync found was pinned")
	}
}

// Two Tables over one shared file or remote table (as two processes would
// have): engines, keys and counts are shared; values and pins are each
// Table's own; the records of engines the other Table removed are dropped
// by Sync.
func TestSharedTableGoSide(t *testing.T) {
	a, b := sharedPair(t, Config{MaxEngines: 4, MaxTickets: 16, DefaultCapacity: 2})

	e, err := a.AddEngineWith(EngineInfo{Key: "x", Value: "a's value"})
	wantErr(t, "AddEngineWith", err, nil)
	k, err := b.ReserveKey("x")
	wantErr(t, "ReserveKey in b", err, nil)
	if k.Key() != "x" || k.Value() != nil {
		t.Fatalf("b's ticket: %q %v (values are per Table)", k.Key(), k.Value())
	}
	wantErr(t, "SetValue in b", b.SetValue(e, "b's value"), nil)
	if k2, _ := a.ReserveKey("x"); k2 == nil || k2.Value() != "a's value" {
		t.Fatalf("a's value changed by b")
	} else {
		wantErr(t, "Finish", k2.Finish(), nil)
	}
	wantErr(t, "Finish", k.Finish(), nil)

	// a removes x; b's Sync (which adds y) drops b's record of x.
	wantErr(t, "Remove in a", a.Remove(e), nil)
	wantErr(t, "Sync in b", b.Sync([]EngineInfo{{Key: "y"}}), nil)
	if _, ok := b.recs.Load(e); ok {
		t.Fatal("b kept the record of an engine a removed")
	}
	// A shared table's Sync always reads the table: a's changes are seen.
	y, err := a.FindEngine("y")
	wantErr(t, "FindEngine y in a", err, nil)
	wantErr(t, "SetCapacity in a", a.SetCapacity(y, 1), nil)
	wantErr(t, "Sync in b again", b.Sync([]EngineInfo{{Key: "y"}}), nil)
	if s, _ := a.EngineStats(y); s.Capacity != 2 {
		t.Fatalf("b's Sync did not restore y: %+v", s)
	}
}
