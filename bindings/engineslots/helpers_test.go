package engineslots

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

// newTable is a table for one test on this run's backend (backend_test.go:
// in-process, or remote), closed when the test ends.
func newTable(t testing.TB, edit ...func(*Config)) *Table {
	t.Helper()
	cfg := Config{MaxEngines: 16, MaxTickets: 256, DefaultCapacity: 2, Policy: LeastLoaded}
	for _, f := range edit {
		f(&cfg)
	}
	tb, err := openTestTable(t, cfg)
	if err != nil {
		t.Fatalf("table with %+v on %s: %v", cfg, testBackend, err)
	}
	return tb
}

func mustAdd(t testing.TB, tb *Table, key string, capacity int) Engine {
	t.Helper()
	e, err := tb.AddEngine(key, capacity)
	if err != nil {
		t.Fatalf("AddEngine(%q, %d): %v", key, capacity, err)
	}
	return e
}

func mustReserve(t testing.TB, tb *Table) *Ticket {
	t.Helper()
	k, err := tb.Reserve()
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	return k
}

// wantErr fails unless errors.Is(got, want) (want nil: got must be nil).
func wantErr(t testing.TB, what string, got, want error) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Fatalf("%s: got %v, want nil", what, got)
		}
		return
	}
	if !errors.Is(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// statsOf returns the stats of engine e, failing if it is not live.
func statsOf(t testing.TB, tb *Table, e Engine) EngineStats {
	t.Helper()
	for _, s := range tb.Stats() {
		if s.Engine == e {
			return s
		}
	}
	t.Fatalf("engine %v not in Stats", e)
	return EngineStats{}
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leaseClock is the clock a test's leases run on: on an in-process table
// the monotonic clock (advance sleeps); on a remote table the server's
// test clock (es_test_clock, docs/REMOTE.md), frozen but for advance, so
// that no pause of a loaded machine runs a lease out under the test. Take
// it before the tickets whose leases the test times.
type leaseClock struct {
	t   testing.TB
	b   *goRedisBackend // nil: the real clock
	now int64           // ms, the test clock's reading
}

func leaseClockOf(t testing.TB, tb *Table) *leaseClock {
	t.Helper()
	c := &leaseClock{t: t}
	if b, ok := tb.b.(*goRedisBackend); ok {
		c.b, c.now = b, time.Now().UnixMilli()
		c.set()
	}
	return c
}

// advance lets d pass for the leases.
func (c *leaseClock) advance(d time.Duration) {
	c.t.Helper()
	if c.b == nil {
		time.Sleep(d)
		return
	}
	c.now += (d + time.Millisecond - 1).Milliseconds()
	c.set()
}

func (c *leaseClock) set() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.b.timeout)
	defer cancel()
	v, err := fcall(ctx, c.b.rdb, "es_test_clock", c.b.prefix, strconv.FormatInt(c.now, 10))
	if err != nil {
		c.t.Fatalf("es_test_clock: %v", err)
	}
	if st, _, err := replyOf(v); err != nil || st != int64(statusOK) {
		c.t.Fatalf("es_test_clock: status %d, %v", st, err)
	}
}
