package engineslots

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type addr struct{ host string }

func TestValues(t *testing.T) {
	tb := newTable(t)
	a1, a2 := &addr{"10.0.0.1:8080"}, &addr{"10.0.0.2:8080"}
	e, err := tb.AddEngineWith(EngineInfo{Key: "a", Capacity: 2, Value: a1})
	wantErr(t, "AddEngineWith", err, nil)
	c := countCalls(tb)
	k := mustReserve(t, tb)
	if k.Value() != a1 || k.Key() != "a" || k.Engine() != e {
		t.Fatalf("ticket: %v %q %v", k.Value(), k.Key(), k.Engine())
	}
	if got := c.take(); len(got) != 1 || got["reserve"] != 1 {
		t.Fatalf("Reserve + Value + Key made C calls %v, want one reserve", got)
	}
	wantErr(t, "SetValue", tb.SetValue(e, a2), nil)
	if k.Value() != a1 {
		t.Fatal("a ticket's value changed after it was reserved")
	}
	k2 := mustReserve(t, tb)
	if k2.Value() != a2 {
		t.Fatalf("value after SetValue: %v", k2.Value())
	}
	wantErr(t, "SetValue(nil)", tb.SetValue(e, nil), nil)
	wantErr(t, "Finish", k2.Finish(), nil)
	if k3 := mustReserve(t, tb); k3.Value() != nil {
		t.Fatalf("value after SetValue(nil): %v", k3.Value())
	} else {
		wantErr(t, "Finish", k3.Finish(), nil)
	}

	// Removing the engine drops its record; its tickets keep key and value.
	wantErr(t, "SetValue", tb.SetValue(e, a2), nil)
	k4 := mustReserve(t, tb)
	wantErr(t, "Remove", tb.Remove(e), nil)
	if _, ok := tb.recs.Load(e); ok {
		t.Fatal("record of a removed engine kept")
	}
	if k4.Value() != a2 || k4.Key() != "a" {
		t.Fatalf("ticket after Remove: %v %q", k4.Value(), k4.Key())
	}
	wantErr(t, "SetValue stale", tb.SetValue(e, a1), ErrStale)
	wantErr(t, "SetValue 0", tb.SetValue(0, a1), ErrStale)
	wantErr(t, "Finish", k.Finish(), nil)
	wantErr(t, "Finish", k4.Finish(), nil)

	// Sync carries values too, and changes them.
	wantErr(t, "Sync", tb.Sync([]EngineInfo{{Key: "b", Value: "b-addr"}}), nil)
	if k := mustReserve(t, tb); k.Value() != "b-addr" {
		t.Fatalf("Sync value: %v", k.Value())
	} else {
		wantErr(t, "Finish", k.Finish(), nil)
	}
	wantErr(t, "Sync", tb.Sync([]EngineInfo{{Key: "b", Value: "b-addr-2"}}), nil)
	if k := mustReserve(t, tb); k.Value() != "b-addr-2" {
		t.Fatalf("Sync value change: %v", k.Value())
	} else {
		wantErr(t, "Finish", k.Finish(), nil)
	}
	// A value of a type == cannot compare is fine (it just always counts
	// as changed).
	wantErr(t, "Sync slice value", tb.Sync([]EngineInfo{{Key: "b", Value: []string{"x"}}}), nil)
	wantErr(t, "Sync slice value again", tb.Sync([]EngineInfo{{Key: "b", Value: []string{"x"}}}), nil)
	if k := mustReserve(t, tb); fmt.Sprint(k.Value()) != "[x]" {
		t.Fatalf("slice value: %v", k.Value())
	}

	_, err = call(tb, func() (struct{}, error) { return struct{}{}, nil })
	wantErr(t, "gate", err, nil)
	wantErr(t, "Close", tb.Close(), nil)
	wantErr(t, "SetValue closed", tb.SetValue(e, a1), ErrClosed)
}

// A reservation can land on an engine in the instant between its C
// registration and the Go side's record of it: the ticket must still get
// the engine's value. Reservers spin on a full table, so each new engine
// (capacity 1) is taken the moment it appears, while engines are added one
// by one (by AddEngineWith and by Sync).
func TestValueOfEngineAddedDuringReserve(t *testing.T) {
	const engines = 64
	tb := newTable(t, func(c *Config) { c.MaxEngines = engines; c.MaxTickets = 1024 })
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []*Ticket
	var spinning atomic.Int32
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spinning.Add(1)
			for !stop.Load() {
				if k, err := tb.Reserve(); err == nil {
					mu.Lock()
					held = append(held, k)
					mu.Unlock()
				}
			}
		}()
	}
	for spinning.Load() < 3 {
		runtime.Gosched()
	}
	var list []EngineInfo
	for i := 0; i < engines; i++ {
		key := fmt.Sprintf("engine-%d", i)
		info := EngineInfo{Key: key, Capacity: 1, Value: "value of " + key}
		list = append(list, info)
		var err error
		if i%2 == 0 {
			_, err = tb.AddEngineWith(info)
		} else {
			err = tb.Sync(list, IncludePinned())
		}
		wantErr(t, "add", err, nil)
		eventually(t, 10*time.Second, "the new engine taken", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(held) == i+1
		})
	}
	stop.Store(true)
	wg.Wait()
	for _, k := range held {
		if v, _ := k.Value().(string); v != "value of "+k.Key() {
			t.Errorf("ticket on %q has value %v", k.Key(), k.Value())
		}
	}
}

func TestAddOrFind(t *testing.T) {
	tb := newTable(t)
	e, created, err := tb.AddOrFind(EngineInfo{Key: "a", Capacity: 3, Priority: 2, External: 1, Value: "A"})
	if err != nil || !created || e == 0 {
		t.Fatalf("AddOrFind new: %v %v %v", e, created, err)
	}
	if s := statsOf(t, tb, e); s.Capacity != 3 || s.Priority != 2 || s.External != 1 || !s.Healthy {
		t.Fatalf("stats %+v", s)
	}
	// Found: returned as it is, settings and value untouched.
	e2, created, err := tb.AddOrFind(EngineInfo{Key: "a", Capacity: 9, Unhealthy: true, Value: "other"})
	if err != nil || created || e2 != e {
		t.Fatalf("AddOrFind existing: %v %v %v", e2, created, err)
	}
	if s := statsOf(t, tb, e); s.Capacity != 3 || !s.Healthy {
		t.Fatalf("found engine changed: %+v", s)
	}
	if k := mustReserve(t, tb); k.Value() != "A" {
		t.Fatalf("value %v", k.Value())
	}
	_, _, err = tb.AddOrFind(EngineInfo{Key: "", Capacity: 1})
	wantErr(t, "empty key", err, ErrInvalid)
	_, _, err = tb.AddOrFind(EngineInfo{Key: "b", Capacity: -1})
	wantErr(t, "negative capacity", err, ErrInvalid)

	// Concurrent callers: one engine, exactly one creator.
	var wg sync.WaitGroup
	var creators atomic.Int32
	handles := make([]Engine, 16)
	for i := range handles {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e, created, err := tb.AddOrFind(EngineInfo{Key: "c", Value: i})
			if err != nil {
				t.Error(err)
			}
			if created {
				creators.Add(1)
			}
			handles[i] = e
		}(i)
	}
	wg.Wait()
	if creators.Load() != 1 {
		t.Fatalf("%d creators", creators.Load())
	}
	for _, h := range handles {
		if h != handles[0] {
			t.Fatalf("different handles %v", handles)
		}
	}
}

func TestReserveKey(t *testing.T) {
	tb := newTable(t)
	e, err := tb.AddEngineWith(EngineInfo{Key: "a", Capacity: 1, Value: 7})
	wantErr(t, "AddEngineWith", err, nil)
	mustAdd(t, tb, "b", 1)
	c := countCalls(tb)
	k, err := tb.ReserveKey("a")
	wantErr(t, "ReserveKey", err, nil)
	if k.Engine() != e || k.Key() != "a" || k.Value() != 7 {
		t.Fatalf("ticket %v %q %v", k.Engine(), k.Key(), k.Value())
	}
	if got := c.take(); len(got) != 1 || got["reserveOnKey"] != 1 {
		t.Fatalf("ReserveKey made C calls %v, want one reserveOnKey", got)
	}
	_, err = tb.ReserveKey("a")
	wantErr(t, "ReserveKey full", err, ErrNoCapacity)
	_, err = tb.ReserveKey("nope")
	wantErr(t, "ReserveKey unknown", err, ErrNotFound)
	_, err = tb.ReserveKey("")
	wantErr(t, "ReserveKey empty", err, ErrInvalid)
	_, err = tb.ReserveKey(strings.Repeat("k", maxKeyLen()+1))
	wantErr(t, "ReserveKey long", err, ErrInvalid)
	wantErr(t, "Drain", tb.Drain(e), nil)
	wantErr(t, "Finish", k.Finish(), nil)
	_, err = tb.ReserveKey("a")
	wantErr(t, "ReserveKey draining", err, ErrNoCapacity)
	wantErr(t, "Close", tb.Close(), nil)
	_, err = tb.ReserveKey("a")
	wantErr(t, "ReserveKey closed", err, ErrClosed)
}

func TestEngineStats(t *testing.T) {
	tb := newTable(t)
	e, err := tb.AddEngineWith(EngineInfo{Key: "a", Capacity: 3, Unhealthy: true, Priority: -2, External: 1})
	wantErr(t, "AddEngineWith", err, nil)
	k := mustReserve(t, tb)
	wantErr(t, "Commit", k.Commit(), nil)
	mustReserve(t, tb)
	wantErr(t, "setUser", tb.b.(interface{ setUser(Engine, uint64) error }).setUser(e, 0xfeedface), nil)
	s, err := tb.EngineStats(e)
	wantErr(t, "EngineStats", err, nil)
	want := EngineStats{Engine: e, Key: "a", Capacity: 3, Active: 1, Pending: 1, External: 1,
		Priority: -2, Healthy: false, ReservedTotal: 2, User: 0xfeedface}
	if s != want {
		t.Fatalf("EngineStats\n got %+v\nwant %+v", s, want)
	}
	if all := tb.Stats(); len(all) != 1 || all[0] != want {
		t.Fatalf("Stats %+v", all)
	}
	_, err = tb.EngineStats(0)
	wantErr(t, "EngineStats(0)", err, ErrStale)
	wantErr(t, "Remove", tb.Remove(e), nil)
	_, err = tb.EngineStats(e)
	wantErr(t, "EngineStats removed", err, ErrStale)
	wantErr(t, "Close", tb.Close(), nil)
	_, err = tb.EngineStats(e)
	wantErr(t, "EngineStats closed", err, ErrClosed)
	if _, err := tb.Snapshot(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Snapshot closed: %v", err)
	}
}

// Keys of ES_KEY_MAX bytes work everywhere a key goes; one more byte is
// ErrInvalid everywhere. (maxKeyLen() is C.ES_KEY_MAX, or KEY_MAX of a remote table.)
func TestMaxLengthKeys(t *testing.T) {
	if maxKeyLen() < 253 {
		t.Fatalf("ES_KEY_MAX is %d: a DNS or Kubernetes name does not fit", maxKeyLen())
	}
	tb := newTable(t)
	long := func(c byte) string { return strings.Repeat(string(c), maxKeyLen()) }
	tooLong := strings.Repeat("x", maxKeyLen()+1)

	a := mustAdd(t, tb, long('a'), 1)
	if e, err := tb.FindEngine(long('a')); err != nil || e != a {
		t.Fatalf("FindEngine: %v %v", e, err)
	}
	b, err := tb.AddEngineWith(EngineInfo{Key: long('b'), Capacity: 1})
	wantErr(t, "AddEngineWith", err, nil)
	if _, created, err := tb.AddOrFind(EngineInfo{Key: long('b')}); err != nil || created {
		t.Fatalf("AddOrFind: %v %v", created, err)
	}
	wantErr(t, "Sync", tb.Sync([]EngineInfo{{Key: long('c')}}), nil)
	k, err := tb.ReserveKey(long('c'))
	wantErr(t, "ReserveKey", err, nil)
	if k.Key() != long('c') {
		t.Fatalf("ticket key of %d bytes", len(k.Key()))
	}
	for _, e := range []Engine{a, b} {
		if s, err := tb.EngineStats(e); err != nil || len(s.Key) != maxKeyLen() {
			t.Fatalf("EngineStats: %d-byte key, %v", len(s.Key), err)
		}
	}

	_, err = tb.AddEngine(tooLong, 1)
	wantErr(t, "AddEngine too long", err, ErrInvalid)
	_, err = tb.AddEngineWith(EngineInfo{Key: tooLong})
	wantErr(t, "AddEngineWith too long", err, ErrInvalid)
	_, _, err = tb.AddOrFind(EngineInfo{Key: tooLong})
	wantErr(t, "AddOrFind too long", err, ErrInvalid)
	_, err = tb.FindEngine(tooLong)
	wantErr(t, "FindEngine too long", err, ErrInvalid)
	_, err = tb.ReserveKey(tooLong)
	wantErr(t, "ReserveKey too long", err, ErrInvalid)
	wantErr(t, "Sync too long", tb.Sync([]EngineInfo{{Key: long('c')}, {Key: tooLong}}), ErrInvalid)
}

// AddOrFind from two Tables on one table (two processes sharing a file or
// a remote table): exactly one creator among all the callers of both.
func TestAddOrFindShared(t *testing.T) {
	a, b := sharedPair(t, Config{MaxEngines: 4, MaxTickets: 16, DefaultCapacity: 2})
	var wg sync.WaitGroup
	var creators atomic.Int32
	handles := make([]Engine, 16)
	for i := range handles {
		tb := a
		if i%2 == 1 {
			tb = b
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e, created, err := tb.AddOrFind(EngineInfo{Key: "shared", Value: i})
			if err != nil {
				t.Error(err)
			}
			if created {
				creators.Add(1)
			}
			handles[i] = e
		}(i)
	}
	wg.Wait()
	if creators.Load() != 1 {
		t.Fatalf("%d creators", creators.Load())
	}
	for _, h := range handles {
		if h != handles[0] || h == 0 {
			t.Fatalf("different handles %v", handles)
		}
	}
	if m := byKey(a); len(m) != 1 || m["shared"].Engine != handles[0] {
		t.Fatalf("engines %+v", m)
	}
}
