//go:build cgo

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
		{Key: "", Capacity: 1},               // bad key
		{Key: strings.Repeat("x", keyMax+1)}, // bad key
		{Key: "neg", Capacity: -1},           // bad capacity
		{Key: "big", Capacity: 5000},         // rejected by C
		{Key: "ext", External: -3},           // bad external
		{Key: "prio", Priority: 1 << 40},     // outside int32
		{Key: "ok1", Capacity: 2},            // listed twice
		{Key: "ok2", Capacity: 2},            // fine
		{Key: "ok3", Capacity: 2},            // fine
		{Key: "full", Capacity: 2},           // no slot left
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
