package engineslots

import (
	"testing"
	"time"
)

func TestTicketLifecycle(t *testing.T) {
	tb := newTable(t)
	e := mustAdd(t, tb, "engine-1", 2)
	k := mustReserve(t, tb)
	if k.Engine() != e || k.Key() != "engine-1" {
		t.Fatalf("ticket on %v %q", k.Engine(), k.Key())
	}
	if s := statsOf(t, tb, e); s.Pending != 1 || s.Active != 0 || s.ReservedTotal != 1 {
		t.Fatalf("after Reserve: %+v", s)
	}
	wantErr(t, "Release of pending", k.Release(), ErrStale)
	wantErr(t, "Touch of pending", k.Touch(), ErrStale)
	wantErr(t, "Commit", k.Commit(), nil)
	if s := statsOf(t, tb, e); s.Pending != 0 || s.Active != 1 {
		t.Fatalf("after Commit: %+v", s)
	}
	wantErr(t, "Commit twice", k.Commit(), ErrStale)
	wantErr(t, "Cancel after Commit", k.Cancel(), ErrStale)
	wantErr(t, "Touch", k.Touch(), nil)
	wantErr(t, "Release", k.Release(), nil)
	wantErr(t, "Release twice", k.Release(), ErrStale)
	wantErr(t, "Touch after Release", k.Touch(), ErrStale)
	wantErr(t, "Commit after Release", k.Commit(), ErrStale)

	c := mustReserve(t, tb)
	wantErr(t, "Cancel", c.Cancel(), nil)
	wantErr(t, "Cancel twice", c.Cancel(), ErrStale)
	wantErr(t, "Commit after Cancel", c.Commit(), ErrStale)
	if s := statsOf(t, tb, e); s.Pending+s.Active != 0 || s.ReservedTotal != 2 {
		t.Fatalf("at the end: %+v", s)
	}
}

func TestReserveOn(t *testing.T) {
	tb := newTable(t)
	mustAdd(t, tb, "a", 1)
	b := mustAdd(t, tb, "b", 1)
	k, err := tb.ReserveOn(b)
	wantErr(t, "ReserveOn", err, nil)
	if k.Engine() != b || k.Key() != "b" {
		t.Fatal("wrong engine")
	}
	_, err = tb.ReserveOn(b)
	wantErr(t, "ReserveOn full", err, ErrNoCapacity)
	_, err = tb.ReserveOn(0)
	wantErr(t, "ReserveOn 0", err, ErrStale)
	_, err = tb.ReserveOn(Engine(0xdeadbeef))
	wantErr(t, "ReserveOn garbage", err, ErrStale)
}

func TestReserveErrors(t *testing.T) {
	tb := newTable(t, func(c *Config) { c.MaxTickets = 2 })
	_, err := tb.Reserve()
	wantErr(t, "no engines", err, ErrNoCapacity)
	e := mustAdd(t, tb, "a", 5)
	mustReserve(t, tb)
	mustReserve(t, tb)
	_, err = tb.Reserve()
	wantErr(t, "no ticket slot", err, ErrTableFull)
	_, err = tb.ReserveOn(e)
	wantErr(t, "ReserveOn, no ticket slot", err, ErrTableFull)
}

// Tickets not from Reserve hold no handle: every call is ErrStale.
func TestZeroTicket(t *testing.T) {
	for _, k := range []*Ticket{nil, {}} {
		wantErr(t, "Commit", k.Commit(), ErrStale)
		wantErr(t, "Cancel", k.Cancel(), ErrStale)
		wantErr(t, "Release", k.Release(), ErrStale)
		wantErr(t, "Touch", k.Touch(), ErrStale)
		wantErr(t, "Finish", k.Finish(), ErrStale)
		if k.Engine() != 0 || k.Key() != "" {
			t.Fatal("zero ticket has an engine")
		}
	}
}

func TestFinish(t *testing.T) {
	tb := newTable(t, func(c *Config) { c.PendingLease = 20 * time.Millisecond })
	clock := leaseClockOf(t, tb)
	e := mustAdd(t, tb, "a", 8)

	pending := mustReserve(t, tb)
	wantErr(t, "Finish pending", pending.Finish(), nil)
	wantErr(t, "Finish again", pending.Finish(), nil)
	wantErr(t, "Cancel after Finish", pending.Cancel(), ErrStale)

	active := mustReserve(t, tb)
	wantErr(t, "Commit", active.Commit(), nil)
	wantErr(t, "Finish active", active.Finish(), nil)
	wantErr(t, "Release after Finish", active.Release(), ErrStale)

	released := mustReserve(t, tb)
	wantErr(t, "Commit", released.Commit(), nil)
	wantErr(t, "Release", released.Release(), nil)
	wantErr(t, "deferred Finish after Release", released.Finish(), nil)

	// Committed through a copy of the handle this Ticket never saw: Finish
	// still releases (Cancel is stale, Release works).
	other := mustReserve(t, tb)
	alias := &Ticket{t: tb, id: other.id, engine: other.engine, shard: other.shard}
	wantErr(t, "Commit via alias", alias.Commit(), nil)
	wantErr(t, "Finish", other.Finish(), nil)

	// Expired: nothing left to do.
	expired := mustReserve(t, tb)
	clock.advance(40 * time.Millisecond)
	if n := tb.ReclaimExpired(); n != 1 {
		t.Fatalf("ReclaimExpired = %d", n)
	}
	wantErr(t, "Finish expired", expired.Finish(), ErrStale)

	if s := statsOf(t, tb, e); s.Pending+s.Active != 0 || s.ExpiredTotal != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPendingLease(t *testing.T) {
	tb := newTable(t, func(c *Config) { c.PendingLease = 30 * time.Millisecond })
	clock := leaseClockOf(t, tb)
	e := mustAdd(t, tb, "a", 1)
	leaked := mustReserve(t, tb) // forgotten
	_, err := tb.Reserve()
	wantErr(t, "full", err, ErrNoCapacity)
	clock.advance(60 * time.Millisecond)
	// Reserve reclaims lazily when it finds no room.
	k := mustReserve(t, tb)
	wantErr(t, "Commit after expiry", leaked.Commit(), ErrStale)
	wantErr(t, "Commit", k.Commit(), nil)
	if s := statsOf(t, tb, e); s.Active != 1 || s.Pending != 0 || s.ExpiredTotal != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Active tickets have no lease here (ActiveLease 0).
	clock.advance(60 * time.Millisecond)
	if n := tb.ReclaimExpired(); n != 0 {
		t.Fatalf("reclaimed %d active tickets without an active lease", n)
	}
	wantErr(t, "Release", k.Release(), nil)
}

func TestActiveLeaseAndTouch(t *testing.T) {
	const lease = 500 * time.Millisecond
	tb := newTable(t, func(c *Config) { c.ActiveLease = lease })
	clock := leaseClockOf(t, tb)
	e := mustAdd(t, tb, "a", 1)
	k := mustReserve(t, tb)
	wantErr(t, "Commit", k.Commit(), nil)
	clock.advance(lease * 3 / 5)
	wantErr(t, "Touch", k.Touch(), nil)
	clock.advance(lease * 3 / 5) // past the first lease: only Touch kept it
	wantErr(t, "Touch again", k.Touch(), nil)
	clock.advance(lease + 100*time.Millisecond)
	if n := tb.ReclaimExpired(); n != 1 {
		t.Fatalf("ReclaimExpired = %d", n)
	}
	wantErr(t, "Touch after expiry", k.Touch(), ErrStale)
	wantErr(t, "Release after expiry", k.Release(), ErrStale)
	if s := statsOf(t, tb, e); s.Active != 0 || s.ExpiredTotal != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPolicies(t *testing.T) {
	t.Run("LeastLoaded", func(t *testing.T) {
		tb := newTable(t)
		a := mustAdd(t, tb, "a", 4)
		b := mustAdd(t, tb, "b", 4)
		got := map[Engine]int{}
		for i := 0; i < 8; i++ {
			got[mustReserve(t, tb).Engine()]++
		}
		if got[a] != 4 || got[b] != 4 {
			t.Fatalf("spread %v", got)
		}
	})
	t.Run("FillFirst", func(t *testing.T) {
		tb := newTable(t, func(c *Config) { c.Policy = FillFirst })
		a := mustAdd(t, tb, "a", 3)
		b := mustAdd(t, tb, "b", 3)
		first := mustReserve(t, tb).Engine()
		for i := 0; i < 2; i++ {
			if mustReserve(t, tb).Engine() != first {
				t.Fatal("FillFirst did not fill the engine it started")
			}
		}
		other := a
		if first == a {
			other = b
		}
		if mustReserve(t, tb).Engine() != other {
			t.Fatal("FillFirst did not move on when full")
		}
	})
	t.Run("TwoChoices", func(t *testing.T) {
		tb := newTable(t, func(c *Config) { c.Policy = TwoChoices })
		for _, k := range []string{"a", "b", "c"} {
			mustAdd(t, tb, k, 2)
		}
		for i := 0; i < 6; i++ {
			mustReserve(t, tb)
		}
		_, err := tb.Reserve()
		wantErr(t, "TwoChoices full", err, ErrNoCapacity)
		for _, s := range tb.Stats() {
			if s.Pending != 2 {
				t.Fatalf("TwoChoices left room: %+v", s)
			}
		}
	})
}

// Handles of one table are stale in another, even at the same slot.
func TestForeignHandles(t *testing.T) {
	t1, t2 := newTable(t), newTable(t)
	e1 := mustAdd(t, t1, "a", 2)
	e2 := mustAdd(t, t2, "a", 2)
	wantErr(t, "foreign engine", t2.SetCapacity(e1, 1), ErrStale)
	_, err := t2.ReserveOn(e1)
	wantErr(t, "ReserveOn foreign engine", err, ErrStale)
	k1 := mustReserve(t, t1)
	foreign := &Ticket{t: t2, id: k1.id, engine: e2}
	wantErr(t, "foreign Commit", foreign.Commit(), ErrStale)
	wantErr(t, "foreign Cancel", foreign.Cancel(), ErrStale)
	wantErr(t, "foreign Finish", foreign.Finish(), ErrStale)
	k2 := mustReserve(t, t2)
	wantErr(t, "Commit", k1.Commit(), nil)
	if s := statsOf(t, t2, e2); s.Pending != 1 || s.Active != 0 {
		t.Fatalf("foreign calls changed t2: %+v", s)
	}
	wantErr(t, "Cancel", k2.Cancel(), nil)
}

// Finish is one call to the C library's es_finish (the one definition of
// "cancel if pending, release if active"), whatever the ticket's state; on
// a remote table, one round trip to the library's es_finish.
func TestFinishIsEsFinish(t *testing.T) {
	tb := newTable(t)
	mustAdd(t, tb, "a", 2)
	c := countCalls(tb)
	for _, commit := range []bool{false, true} {
		k := mustReserve(t, tb)
		if commit {
			wantErr(t, "Commit", k.Commit(), nil)
		}
		c.take()
		wantErr(t, "Finish", k.Finish(), nil)
		if got := c.take(); len(got) != 1 || got["finish"] != 1 {
			t.Fatalf("Finish (committed %v) made calls %v, want one es_finish", commit, got)
		}
		wantErr(t, "Finish again", k.Finish(), nil) // this Ticket finished it: nil, no call
		if got := c.take(); len(got) != 0 {
			t.Fatalf("second Finish made calls %v", got)
		}
	}
	// A ticket the table took back: es_finish says stale.
	k := mustReserve(t, tb)
	e := k.Engine()
	wantErr(t, "Remove", tb.Remove(e), nil)
	wantErr(t, "Commit on removed engine", k.Commit(), ErrStale)
	wantErr(t, "Finish after the table took it back", k.Finish(), ErrStale)
	if s := tb.TicketCounts(); s.Pending != 0 || s.Active != 0 {
		t.Fatalf("tickets left: %+v", s)
	}
}
