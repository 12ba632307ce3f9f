package engineslots

import (
	"math"
	"testing"
	"time"
)

func TestNewConfig(t *testing.T) {
	good := Config{MaxEngines: 4, MaxTickets: 8, DefaultCapacity: 1, Policy: LeastLoaded}
	tb, err := openTestTable(t, good)
	wantErr(t, "New(good)", err, nil)
	if tb.Config() != good {
		t.Fatalf("Config() = %+v", tb.Config())
	}
	wantErr(t, "Close", tb.Close(), nil)

	tb, err = openTestTable(t, DefaultConfig())
	wantErr(t, "New(DefaultConfig())", err, nil)
	wantErr(t, "Close", tb.Close(), nil)

	edge := Config{MaxEngines: 65535, MaxTickets: 1 << 20, DefaultCapacity: 2047,
		PendingLease: math.MaxUint32 * time.Millisecond, ActiveLease: time.Nanosecond, Policy: TwoChoices}
	tb, err = openTestTable(t, edge)
	wantErr(t, "New(edge)", err, nil)
	wantErr(t, "Close", tb.Close(), nil)

	bad := []func(*Config){
		func(c *Config) { c.MaxEngines = 0 },
		func(c *Config) { c.MaxEngines = -1 },
		func(c *Config) { c.MaxEngines = 65536 },
		func(c *Config) { c.MaxEngines = math.MaxUint32 + 1 }, // would wrap to 0
		func(c *Config) { c.MaxTickets = 0 },
		func(c *Config) { c.MaxTickets = 1<<20 + 1 },
		func(c *Config) { c.MaxTickets = -8 },
		func(c *Config) { c.DefaultCapacity = 0 },
		func(c *Config) { c.DefaultCapacity = 2048 },
		func(c *Config) { c.DefaultCapacity = math.MaxUint32 + 2 }, // would wrap to 1
		func(c *Config) { c.PendingLease = -time.Millisecond },
		func(c *Config) { c.ActiveLease = -1 },
		func(c *Config) { c.PendingLease = math.MaxUint32*time.Millisecond + 1 },
		func(c *Config) { c.ActiveLease = math.MaxInt64 },
		func(c *Config) { c.Policy = -1 },
		func(c *Config) { c.Policy = 3 },
	}
	for i, edit := range bad {
		c := good
		edit(&c)
		if _, err := openTestTable(t, c); err != ErrInvalid {
			t.Fatalf("bad config %d (%+v): got %v, want ErrInvalid", i, c, err)
		}
	}
}

func TestToMs(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want uint32
		ok   bool
	}{
		{0, 0, true},
		{1, 1, true},
		{time.Millisecond - 1, 1, true},
		{time.Millisecond, 1, true},
		{time.Millisecond + 1, 2, true},
		{1500 * time.Microsecond, 2, true},
		{time.Second, 1000, true},
		{math.MaxUint32 * time.Millisecond, math.MaxUint32, true},
		{math.MaxUint32*time.Millisecond + 1, 0, false},
		{-1, 0, false},
		{math.MinInt64, 0, false},
		{math.MaxInt64, 0, false},
	}
	for _, c := range cases {
		got, ok := toMs(c.d)
		if uint32(got) != c.want || ok != c.ok {
			t.Errorf("toMs(%v) = %d, %v; want %d, %v", c.d, got, ok, c.want, c.ok)
		}
	}
}

func TestPolicyString(t *testing.T) {
	for p, s := range map[Policy]string{LeastLoaded: "LeastLoaded", FillFirst: "FillFirst",
		TwoChoices: "TwoChoices", 9: "Policy(9)"} {
		if p.String() != s {
			t.Errorf("%d.String() = %q", int(p), p.String())
		}
	}
}

// Every method of a closed table, and of its tickets, answers ErrClosed.
func TestClosed(t *testing.T) {
	tb := newTable(t)
	e := mustAdd(t, tb, "a", 2)
	pending := mustReserve(t, tb)
	active := mustReserve(t, tb)
	wantErr(t, "Commit", active.Commit(), nil)

	wantErr(t, "Close", tb.Close(), nil)
	wantErr(t, "Close again", tb.Close(), ErrClosed)
	wantErr(t, "Close thrice", tb.Close(), ErrClosed)

	_, err := tb.AddEngine("b", 1)
	wantErr(t, "AddEngine", err, ErrClosed)
	_, err = tb.FindEngine("a")
	wantErr(t, "FindEngine", err, ErrClosed)
	_, err = tb.FindEngine("")
	wantErr(t, "FindEngine(bad key)", err, ErrClosed)
	wantErr(t, "SetCapacity", tb.SetCapacity(e, 3), ErrClosed)
	wantErr(t, "SetCapacity(-1)", tb.SetCapacity(e, -1), ErrClosed)
	wantErr(t, "SetHealthy", tb.SetHealthy(e, false), ErrClosed)
	wantErr(t, "SetPriority", tb.SetPriority(e, 1), ErrClosed)
	wantErr(t, "SetPriority(huge)", tb.SetPriority(e, math.MaxInt64), ErrClosed)
	wantErr(t, "SetExternal", tb.SetExternal(e, 1), ErrClosed)
	wantErr(t, "SetExternal(-1)", tb.SetExternal(e, -1), ErrClosed)
	wantErr(t, "Drain", tb.Drain(e), ErrClosed)
	wantErr(t, "Undrain", tb.Undrain(e), ErrClosed)
	wantErr(t, "Remove", tb.Remove(e), ErrClosed)
	_, err = tb.Reserve()
	wantErr(t, "Reserve", err, ErrClosed)
	_, err = tb.ReserveOn(e)
	wantErr(t, "ReserveOn", err, ErrClosed)
	if n := tb.ReclaimExpired(); n != 0 {
		t.Fatalf("ReclaimExpired = %d", n)
	}
	if s := tb.Stats(); s != nil {
		t.Fatalf("Stats = %v", s)
	}
	if c := tb.TicketCounts(); c != (TicketCounts{}) {
		t.Fatalf("TicketCounts = %v", c)
	}
	wantErr(t, "Sync", tb.Sync(nil), ErrClosed)

	wantErr(t, "Commit", pending.Commit(), ErrClosed)
	wantErr(t, "Cancel", pending.Cancel(), ErrClosed)
	wantErr(t, "Finish", pending.Finish(), ErrClosed)
	wantErr(t, "Release", active.Release(), ErrClosed)
	wantErr(t, "Touch", active.Touch(), ErrClosed)
	wantErr(t, "Finish", active.Finish(), ErrClosed)
	// Handles and keys stay readable: they are plain Go values.
	if pending.Engine() != e || pending.Key() != "a" {
		t.Fatal("ticket lost its engine or key")
	}
}
