package engineslots

import (
	"math"
	"strings"
	"testing"
)

func TestAddEngine(t *testing.T) {
	tb := newTable(t, func(c *Config) { c.MaxEngines = 4; c.DefaultCapacity = 3 })
	e := mustAdd(t, tb, "a", 0)
	if e == 0 {
		t.Fatal("handle 0")
	}
	if s := statsOf(t, tb, e); s.Capacity != 3 || !s.Healthy || s.Draining || s.Priority != 0 ||
		s.External != 0 || s.Key != "a" {
		t.Fatalf("new engine stats %+v", s)
	}
	_, err := tb.AddEngine("a", 1)
	wantErr(t, "duplicate key", err, ErrExists)
	for _, c := range []int{-1, math.MinInt, 2048, math.MaxUint32 + 1, math.MaxInt} {
		_, err = tb.AddEngine("b", c)
		wantErr(t, "capacity", err, ErrInvalid)
	}
	for _, k := range []string{"", strings.Repeat("k", maxKeyLen()+1)} {
		_, err = tb.AddEngine(k, 1)
		wantErr(t, "key length", err, ErrInvalid)
	}
	eMax := mustAdd(t, tb, strings.Repeat("k", maxKeyLen()), 2047)
	if s := statsOf(t, tb, eMax); s.Capacity != 2047 || s.Key != strings.Repeat("k", maxKeyLen()) {
		t.Fatalf("stats %+v", s)
	}
	// Keys are bytes, not C strings: NUL bytes are part of them.
	n1 := mustAdd(t, tb, "x\x00y", 1)
	n2 := mustAdd(t, tb, "x\x00z", 1)
	if n1 == n2 {
		t.Fatal("same handle for different keys")
	}
	_, err = tb.AddEngine("x\x00w", 1)
	wantErr(t, "table full", err, ErrTableFull)
	f, err := tb.FindEngine("x\x00y")
	wantErr(t, "FindEngine", err, nil)
	if f != n1 {
		t.Fatal("FindEngine found another engine")
	}
	_, err = tb.FindEngine("x")
	wantErr(t, "FindEngine prefix", err, ErrNotFound)
	if statsOf(t, tb, n1).Key != "x\x00y" {
		t.Fatal("key with NUL lost bytes")
	}
}

func TestFindEngine(t *testing.T) {
	tb := newTable(t)
	e := mustAdd(t, tb, "a", 1)
	got, err := tb.FindEngine("a")
	wantErr(t, "FindEngine", err, nil)
	if got != e {
		t.Fatalf("FindEngine = %v, want %v", got, e)
	}
	_, err = tb.FindEngine("b")
	wantErr(t, "missing", err, ErrNotFound)
	_, err = tb.FindEngine("")
	wantErr(t, "empty key", err, ErrInvalid)
	_, err = tb.FindEngine(strings.Repeat("z", maxKeyLen()+1))
	wantErr(t, "long key", err, ErrInvalid)
	wantErr(t, "Remove", tb.Remove(e), nil)
	_, err = tb.FindEngine("a")
	wantErr(t, "removed", err, ErrNotFound)
}

func TestSetCapacity(t *testing.T) {
	tb := newTable(t)
	e := mustAdd(t, tb, "a", 1)
	k := mustReserve(t, tb)
	_, err := tb.Reserve()
	wantErr(t, "full", err, ErrNoCapacity)
	wantErr(t, "SetCapacity", tb.SetCapacity(e, 2), nil)
	k2 := mustReserve(t, tb)
	// Lowering below the load revokes nothing; it only stops admissions.
	wantErr(t, "SetCapacity(1)", tb.SetCapacity(e, 1), nil)
	if s := statsOf(t, tb, e); s.Capacity != 1 || s.Pending != 2 {
		t.Fatalf("stats %+v", s)
	}
	_, err = tb.Reserve()
	wantErr(t, "over", err, ErrNoCapacity)
	wantErr(t, "Cancel", k.Cancel(), nil)
	_, err = tb.Reserve()
	wantErr(t, "still at capacity", err, ErrNoCapacity)
	wantErr(t, "Cancel", k2.Cancel(), nil)
	mustReserve(t, tb)

	for _, n := range []int{0, -1, 2048, math.MaxUint32 + 1, math.MinInt} {
		wantErr(t, "bad capacity", tb.SetCapacity(e, n), ErrInvalid)
	}
	wantErr(t, "zero handle", tb.SetCapacity(0, 1), ErrStale)
	wantErr(t, "garbage handle", tb.SetCapacity(Engine(12345), 1), ErrStale)
}

func TestSetHealthy(t *testing.T) {
	tb := newTable(t)
	a := mustAdd(t, tb, "a", 4)
	b := mustAdd(t, tb, "b", 4)
	wantErr(t, "SetHealthy", tb.SetHealthy(a, false), nil)
	if statsOf(t, tb, a).Healthy {
		t.Fatal("still healthy")
	}
	// Healthy engines always win; an unhealthy one is still admissible.
	for i := 0; i < 4; i++ {
		if k := mustReserve(t, tb); k.Engine() != b {
			t.Fatalf("reservation %d on the unhealthy engine", i)
		}
	}
	if k := mustReserve(t, tb); k.Engine() != a {
		t.Fatal("unhealthy engine not used when the healthy one is full")
	}
	wantErr(t, "SetHealthy(true)", tb.SetHealthy(a, true), nil)
	if !statsOf(t, tb, a).Healthy {
		t.Fatal("not healthy")
	}
	wantErr(t, "stale", tb.SetHealthy(0, true), ErrStale)
}

func TestSetPriority(t *testing.T) {
	tb := newTable(t)
	a := mustAdd(t, tb, "a", 2)
	b := mustAdd(t, tb, "b", 2)
	wantErr(t, "SetPriority", tb.SetPriority(b, 5), nil)
	if k := mustReserve(t, tb); k.Engine() != b {
		t.Fatal("higher priority did not win the tie")
	}
	if k := mustReserve(t, tb); k.Engine() != a {
		t.Fatal("load did not come before priority")
	}
	wantErr(t, "negative priority", tb.SetPriority(a, math.MinInt32), nil)
	wantErr(t, "max priority", tb.SetPriority(a, math.MaxInt32), nil)
	if statsOf(t, tb, a).Priority != math.MaxInt32 {
		t.Fatal("priority not stored")
	}
	wantErr(t, "above int32", tb.SetPriority(a, math.MaxInt32+1), ErrInvalid)
	wantErr(t, "below int32", tb.SetPriority(a, math.MinInt32-1), ErrInvalid)
	wantErr(t, "stale", tb.SetPriority(0, 1), ErrStale)
}

func TestSetExternal(t *testing.T) {
	tb := newTable(t)
	e := mustAdd(t, tb, "a", 3)
	wantErr(t, "SetExternal", tb.SetExternal(e, 2), nil)
	mustReserve(t, tb)
	_, err := tb.Reserve()
	wantErr(t, "external counts toward admission", err, ErrNoCapacity)
	wantErr(t, "SetExternal(5000)", tb.SetExternal(e, 5000), nil)
	if s := statsOf(t, tb, e); s.External != 5000 || s.Pending != 1 {
		t.Fatalf("stats %+v", s)
	}
	wantErr(t, "SetExternal(0)", tb.SetExternal(e, 0), nil)
	mustReserve(t, tb)
	wantErr(t, "negative", tb.SetExternal(e, -1), ErrInvalid)
	wantErr(t, "above uint32", tb.SetExternal(e, math.MaxUint32+1), ErrInvalid)
	wantErr(t, "max uint32", tb.SetExternal(e, math.MaxUint32), nil)
	wantErr(t, "stale", tb.SetExternal(0, 1), ErrStale)
}

func TestDrainUndrain(t *testing.T) {
	tb := newTable(t)
	a := mustAdd(t, tb, "a", 2)
	b := mustAdd(t, tb, "b", 2)
	// a and b are equal, so Reserve may pick either: hold a slot on a.
	k, err := tb.ReserveOn(a)
	wantErr(t, "ReserveOn", err, nil)
	wantErr(t, "Drain", tb.Drain(a), nil)
	wantErr(t, "Drain twice", tb.Drain(a), nil)
	if !statsOf(t, tb, a).Draining {
		t.Fatal("not draining")
	}
	_, err = tb.ReserveOn(a)
	wantErr(t, "ReserveOn draining", err, ErrNoCapacity)
	for i := 0; i < 2; i++ {
		if mustReserve(t, tb).Engine() != b {
			t.Fatal("Reserve chose the draining engine")
		}
	}
	_, err = tb.Reserve()
	wantErr(t, "all full or draining", err, ErrNoCapacity)
	// Its tickets finish normally.
	wantErr(t, "Commit on draining", k.Commit(), nil)
	wantErr(t, "Release on draining", k.Release(), nil)
	wantErr(t, "Undrain", tb.Undrain(a), nil)
	wantErr(t, "Undrain twice", tb.Undrain(a), nil)
	if mustReserve(t, tb).Engine() != a {
		t.Fatal("undrained engine not used")
	}
	wantErr(t, "Drain stale", tb.Drain(0), ErrStale)
	wantErr(t, "Undrain stale", tb.Undrain(0), ErrStale)
}

func TestRemove(t *testing.T) {
	tb := newTable(t, func(c *Config) { c.MaxEngines = 1 })
	e := mustAdd(t, tb, "a", 3)
	pending := mustReserve(t, tb)
	pending2 := mustReserve(t, tb)
	active := mustReserve(t, tb)
	wantErr(t, "Commit", active.Commit(), nil)

	wantErr(t, "Remove", tb.Remove(e), nil)
	wantErr(t, "Remove twice", tb.Remove(e), ErrStale)
	wantErr(t, "SetCapacity removed", tb.SetCapacity(e, 1), ErrStale)
	_, err := tb.ReserveOn(e)
	wantErr(t, "ReserveOn removed", err, ErrStale)
	if len(tb.Stats()) != 0 {
		t.Fatal("removed engine in Stats")
	}
	// The slot is free at once; the new engine is untouched by old tickets.
	e2 := mustAdd(t, tb, "b", 3)
	if e2 == e {
		t.Fatal("handle reused")
	}
	wantErr(t, "Commit of a removed engine's ticket", pending.Commit(), ErrStale)
	wantErr(t, "Cancel after that commit", pending.Cancel(), ErrStale)
	wantErr(t, "Cancel of a removed engine's ticket", pending2.Cancel(), nil)
	wantErr(t, "Release of a removed engine's ticket", active.Release(), nil)
	if s := statsOf(t, tb, e2); s.Active+s.Pending != 0 {
		t.Fatalf("old tickets changed the new engine: %+v", s)
	}
	// Keys captured at reserve time survive the removal.
	if pending.Key() != "a" || active.Key() != "a" {
		t.Fatal("ticket key lost")
	}
	if c := tb.TicketCounts(); c.Free != 256 {
		t.Fatalf("tickets leaked: %+v", c)
	}
	wantErr(t, "Remove 0", tb.Remove(0), ErrStale)
}

func TestEngineString(t *testing.T) {
	if Engine(0x10).String() != "Engine(0x10)" {
		t.Fatal(Engine(0x10).String())
	}
}
