package engineslots

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// externalOf is engine key's external load as the table counts it.
func externalOf(t *testing.T, tb *Table, key string) int {
	t.Helper()
	e, err := tb.FindEngine(key)
	wantErr(t, "FindEngine", err, nil)
	s, err := tb.EngineStats(e)
	wantErr(t, "EngineStats", err, nil)
	return s.External
}

// admits reserves until the table says no, cancels them all, and returns
// how many it got.
func admits(t *testing.T, tb *Table) int {
	t.Helper()
	var got []*Ticket
	for {
		k, err := tb.Reserve()
		if err != nil {
			wantErr(t, "Reserve", err, ErrNoCapacity)
			break
		}
		got = append(got, k)
	}
	for _, k := range got {
		wantErr(t, "Cancel", k.Cancel(), nil)
	}
	return len(got)
}

// The engine ends one of our streams before we release it (we are still
// sending the tail). Capacity 2, one stream of another proxy: the report
// drops our stream while Sync, counting it lag old, still subtracts it, so
// external comes out one low (the table's total is still right: our active
// count has it). Releasing it must not hand its slot back before a report
// says the engine has room: the engine has room for exactly 1, whatever
// the release call.
func TestSyncObservedTotalsEngineEndsFirst(t *testing.T) {
	const lag = 60 * time.Millisecond
	for _, how := range []string{"Finish", "Release", "Release+Finish"} {
		t.Run(how, func(t *testing.T) {
			tb := newTable(t)
			if ext := observed(t, tb, 1, lag); ext != 1 {
				t.Fatalf("new engine: external %d, want 1", ext)
			}
			a := mustReserve(t, tb)
			committed := time.Now()
			wantErr(t, "Commit", a.Commit(), nil)
			// Wait until A is lag old (with the generation steps).
			time.Sleep(lag + lag/8)
			eventually(t, 50*lag, "A subtracted", func() bool { return observed(t, tb, 2, lag) == 1 })
			if since := time.Since(committed); since < lag {
				t.Fatalf("A subtracted %v after its commit", since)
			}
			// The engine ended A; we still hold it.
			if ext := observed(t, tb, 1, lag); ext != 0 {
				t.Fatalf("report without A while we hold it: external %d, want 0 (1 - our 1)", ext)
			}
			if n := admits(t, tb); n != 1 {
				t.Fatalf("engine with room for 1 (A active + 0 external): the table admitted %d", n)
			}
			switch how {
			case "Finish":
				wantErr(t, "Finish", a.Finish(), nil)
			case "Release":
				wantErr(t, "Release", a.Release(), nil)
			case "Release+Finish":
				wantErr(t, "Release", a.Release(), nil)
				wantErr(t, "Finish", a.Finish(), nil)
			}
			if ext := externalOf(t, tb, "a"); ext != 1 {
				t.Fatalf("after releasing A: external %d, want 1 (its unit)", ext)
			}
			if n := admits(t, tb); n != 1 {
				t.Fatalf("the engine has room for 1, the table admitted %d", n)
			}
			// The next reports: exact, and A (lag old) is not added back.
			if ext := observed(t, tb, 1, lag); ext != 1 {
				t.Fatalf("next report: external %d, want 1", ext)
			}
			if n := admits(t, tb); n != 1 {
				t.Fatalf("after the next Sync the table admitted %d, want 1", n)
			}
			if s := tb.TicketCounts(); s.Active != 0 || s.Pending != 0 {
				t.Fatalf("tickets left: %+v", s)
			}
		})
	}
}

// The other direction: we release a stream the engine still runs (or
// that the report still has). Its unit is counted once, by the released
// unit until the next Sync, then by the report: never twice.
func TestSyncObservedTotalsReleasedStillReported(t *testing.T) {
	const lag = 60 * time.Millisecond
	tb := newTable(t)
	observed(t, tb, 1, lag)
	a := mustReserve(t, tb)
	wantErr(t, "Commit", a.Commit(), nil)
	time.Sleep(lag + lag/8)
	eventually(t, 50*lag, "A subtracted", func() bool { return observed(t, tb, 2, lag) == 1 })
	wantErr(t, "Finish", a.Finish(), nil)
	if ext := externalOf(t, tb, "a"); ext != 2 {
		t.Fatalf("after releasing A: external %d, want 2", ext)
	}
	if ext := observed(t, tb, 2, lag); ext != 2 {
		t.Fatalf("report still with A: external %d, want 2 (A once)", ext)
	}
	if ext := observed(t, tb, 2, lag); ext != 2 {
		t.Fatalf("again: external %d, want 2", ext)
	}
	if n := admits(t, tb); n != 0 {
		t.Fatalf("admitted %d while the engine runs 2", n)
	}
	if ext := observed(t, tb, 1, lag); ext != 1 {
		t.Fatalf("report without A: external %d, want 1", ext)
	}
	if n := admits(t, tb); n != 1 {
		t.Fatalf("admitted %d, want 1", n)
	}
}

// A stream committed and released within lag may never have been in a
// report while the engine still runs its end: Sync keeps it counted until
// its commit is lag old, then the report alone decides.
func TestSyncObservedTotalsShortStream(t *testing.T) {
	const lag = 100 * time.Millisecond
	tb := newTable(t)
	observed(t, tb, 1, lag)
	time.Sleep(lag)
	b := mustReserve(t, tb)
	committed := time.Now()
	wantErr(t, "Commit", b.Commit(), nil)
	wantErr(t, "Release", b.Release(), nil)
	if ext := observed(t, tb, 1, lag); ext != 2 {
		t.Fatalf("report without the short stream, just released: external %d, want 2", ext)
	}
	if n := admits(t, tb); n != 0 {
		t.Fatalf("admitted %d", n)
	}
	// The report catches up: counted twice, safely.
	if ext := observed(t, tb, 2, lag); ext != 3 {
		t.Fatalf("report with it: external %d, want 3", ext)
	}
	eventually(t, 50*lag, "released stream out of the window", func() bool { return observed(t, tb, 1, lag) == 1 })
	if since := time.Since(committed); since < lag {
		t.Fatalf("the short stream stopped counting %v after its commit, before the lag", since)
	}
	if n := admits(t, tb); n != 1 {
		t.Fatalf("admitted %d, want 1", n)
	}
}

// Which C call ends a ticket: es_release_as_external for an active ticket
// on an engine Sync manages with ObservedTotals; es_finish, es_release and
// es_cancel as usual everywhere else (a pinned engine the list does not
// name, plain Sync), with no lock.
func TestObservedReleaseCalls(t *testing.T) {
	const lag = time.Hour
	tb := newTable(t)
	pinned := mustAdd(t, tb, "pinned", 2)
	list := []EngineInfo{{Key: "a", Capacity: 10}}
	wantErr(t, "Sync", tb.Sync(list, ObservedTotals(lag)), nil)
	a, _ := tb.FindEngine("a")
	c := countCalls(tb)
	end := func(e Engine, commit bool, f func(*Ticket) error, want string) {
		t.Helper()
		k, err := tb.ReserveOn(e)
		wantErr(t, "ReserveOn", err, nil)
		if commit {
			wantErr(t, "Commit", k.Commit(), nil)
		}
		c.take()
		wantErr(t, want, f(k), nil)
		if got := c.take(); len(got) != 1 || got[want] != 1 {
			t.Fatalf("made calls %v, want one %s", got, want)
		}
	}
	finish, release, cancel := (*Ticket).Finish, (*Ticket).Release, (*Ticket).Cancel
	end(a, true, finish, "releaseAsExternal")
	end(a, true, release, "releaseAsExternal")
	end(a, false, finish, "cancel")
	end(a, false, cancel, "cancel")
	end(pinned, true, finish, "finish")
	end(pinned, true, release, "release")
	if ext := externalOf(t, tb, "a"); ext != 2 {
		t.Fatalf("external %d, want the 2 released units", ext)
	}
	if ext := externalOf(t, tb, "pinned"); ext != 0 {
		t.Fatalf("pinned engine: external %d", ext)
	}
	// Committed behind this Ticket's back (as by another goroutine): Finish
	// tries es_cancel, finds it active, releases it as external.
	k, err := tb.ReserveOn(a)
	wantErr(t, "ReserveOn", err, nil)
	// Commit without this Ticket knowing: the C call directly.
	if st := tb.b.commit(k.id); st != statusOK {
		t.Fatalf("commit: %v", statusErr(st))
	}
	c.take()
	wantErr(t, "Finish", k.Finish(), nil)
	if got := c.take(); len(got) != 2 || got["cancel"] != 1 || got["releaseAsExternal"] != 1 {
		t.Fatalf("Finish of a ticket committed elsewhere made %v", got)
	}

	// Listed by a plain Sync: no longer observed, plain calls again.
	wantErr(t, "Sync", tb.Sync([]EngineInfo{{Key: "a", Capacity: 10}}), nil)
	end(a, true, finish, "finish")
	// Listed again with ObservedTotals, then dropped from the list: the
	// engine drains and releases free their slot at once.
	wantErr(t, "Sync", tb.Sync(list, ObservedTotals(lag)), nil)
	k, err = tb.ReserveOn(a)
	wantErr(t, "ReserveOn", err, nil)
	wantErr(t, "Commit", k.Commit(), nil)
	wantErr(t, "Sync", tb.Sync(nil, ObservedTotals(lag)), nil)
	c.take()
	wantErr(t, "Finish", k.Finish(), nil)
	if got := c.take(); len(got) != 1 || got["finish"] != 1 {
		t.Fatalf("Finish on a dropped engine made %v", got)
	}
}

// snapHook calls hook during the n-th snapshot (counting from 1).
type snapHook struct {
	backend
	calls atomic.Int32
	n     int32
	hook  func()
}

func (h *snapHook) snapshot(cachedKey func(Engine) string) ([]EngineStats, error) {
	s, err := h.backend.snapshot(cachedKey)
	if h.calls.Add(1) == h.n {
		h.hook()
	}
	return s, err
}

// A release between the table read Sync derives external loads from and
// the moment it sets them must not be lost: it waits for Sync, then adds
// its unit to the value Sync set.
func TestObservedReleaseDuringSync(t *testing.T) {
	const lag = 40 * time.Millisecond
	tb := newTable(t)
	observed(t, tb, 1, lag)
	a := mustReserve(t, tb)
	wantErr(t, "Commit", a.Commit(), nil)
	time.Sleep(lag + lag/8)
	eventually(t, 50*lag, "A subtracted", func() bool { return observed(t, tb, 2, lag) == 1 })

	// The engine ended A: the report says 1, Sync derives 0 from a table
	// read where A is still active, and A is released meanwhile.
	done := make(chan error, 1)
	h := &snapHook{backend: tb.b, n: 2} // 1: the read without the lock; 2: under it
	h.hook = func() {
		go func() { done <- a.Finish() }()
		time.Sleep(30 * time.Millisecond) // time for the Finish, if nothing held it
	}
	tb.b = h
	wantErr(t, "Sync", tb.Sync([]EngineInfo{{Key: "a", Capacity: 2, Streams: 1}}, ObservedTotals(lag)), nil)
	wantErr(t, "Finish", <-done, nil)
	tb.b = h.backend
	if h.calls.Load() < 2 {
		t.Fatalf("Sync read the table %d times", h.calls.Load())
	}
	if ext := externalOf(t, tb, "a"); ext != 1 {
		t.Fatalf("external %d after the release raced Sync, want 1", ext)
	}
	if n := admits(t, tb); n != 1 {
		t.Fatalf("the engine has room for 1, the table admitted %d", n)
	}
}

// A randomized model: an orchestrator reports each engine's real count
// (another proxy's streams plus ours, tails included) as it was up to
// maxDelay ago, and Sync runs with ObservedTotals(lag) on its reports,
// while clients reserve, start streams on the engine before Commit, and
// end them in either order: the engine first (we then still send the
// tail), or we release first (the engine still runs the end), with short
// and long (lag old) streams, some never started. At every admission the
// engine's real count plus our admitted but not yet started streams must
// stay within its capacity.
func TestSyncObservedTotalsModel(t *testing.T) {
	const (
		lag      = 200 * time.Millisecond
		maxDelay = 40 * time.Millisecond // real report delay, well below lag
		workers  = 8
	)
	run := 2 * time.Second
	if testing.Short() {
		run = 500 * time.Millisecond
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	type engine struct {
		key              string
		capacity, other  int
		running, pending int // ours on the engine, ours admitted not started
		history          []struct {
			at time.Time
			n  int
		}
		admissions, maxLoad int
	}
	engines := []*engine{{key: "a", capacity: 3, other: 1}, {key: "b", capacity: 2}, {key: "c", capacity: 4, other: 2}}
	byKey := map[string]*engine{}
	for _, e := range engines {
		byKey[e.key] = e
		e.history = append(e.history, struct {
			at time.Time
			n  int
		}{time.Now(), 0})
	}
	var mu sync.Mutex
	var failures []string
	record := func(e *engine, d int) { // mu held
		e.running += d
		e.history = append(e.history, struct {
			at time.Time
			n  int
		}{time.Now(), e.running})
	}
	report := func(r *rand.Rand) []EngineInfo {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		cut := now.Add(-time.Duration(r.Int63n(int64(maxDelay))))
		var list []EngineInfo
		for _, e := range engines {
			n := e.history[0].n
			keep := 0
			for i, s := range e.history {
				if s.at.After(cut) {
					break
				}
				n = s.n
				if now.Sub(s.at) > 2*maxDelay {
					keep = i // older samples are never needed again
				}
			}
			e.history = e.history[keep:]
			list = append(list, EngineInfo{Key: e.key, Capacity: e.capacity, Streams: e.other + n})
		}
		return list
	}

	tb := newTable(t, func(c *Config) { c.MaxTickets = 64 })
	rs := rand.New(rand.NewSource(seed))
	wantErr(t, "Sync", tb.Sync(report(rs), ObservedTotals(lag)), nil)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the refresh loop
		defer wg.Done()
		r := rand.New(rand.NewSource(seed - 1))
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := tb.Sync(report(r), ObservedTotals(lag)); err != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("Sync: %v", err))
				mu.Unlock()
			}
			time.Sleep(time.Duration(1+r.Intn(10)) * time.Millisecond)
		}
	}()
	sleep := func(r *rand.Rand, max time.Duration) {
		if max > 0 {
			time.Sleep(time.Duration(r.Int63n(int64(max))))
		}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed + int64(w)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				k, err := tb.Reserve()
				if err != nil {
					time.Sleep(time.Duration(r.Intn(2000)) * time.Microsecond)
					continue
				}
				mu.Lock()
				e := byKey[k.Key()]
				e.pending++
				e.admissions++
				load := e.other + e.running + e.pending
				e.maxLoad = max(e.maxLoad, load)
				if load > e.capacity {
					failures = append(failures, fmt.Sprintf("%s admitted at real load %d (%d other, %d running, %d starting), capacity %d",
						e.key, load, e.other, e.running, e.pending, e.capacity))
				}
				mu.Unlock()
				if r.Intn(10) == 0 { // the upstream fails to start it
					sleep(r, 5*time.Millisecond)
					mu.Lock()
					e.pending--
					mu.Unlock()
					_ = k.Finish()
					continue
				}
				mu.Lock()
				e.pending--
				record(e, 1) // the engine runs it, then we commit
				mu.Unlock()
				_ = k.Commit()
				if r.Intn(3) == 0 {
					sleep(r, lag+lag/2) // often lag old, subtracted
					time.Sleep(lag / 2)
				} else {
					sleep(r, 20*time.Millisecond)
				}
				end := func() { _ = k.Finish() }
				if r.Intn(2) == 0 {
					end = func() { _ = k.Release(); _ = k.Finish() }
				}
				if r.Intn(2) == 0 { // the engine ends it; we send the tail
					mu.Lock()
					record(e, -1)
					mu.Unlock()
					sleep(r, 20*time.Millisecond)
					end()
				} else { // we release; the engine runs the end
					end()
					sleep(r, 20*time.Millisecond)
					mu.Lock()
					record(e, -1)
					mu.Unlock()
				}
			}
		}(w)
	}
	time.Sleep(run)
	close(stop)
	wg.Wait()
	for _, e := range engines {
		t.Logf("%s: capacity %d, %d other, %d admissions, highest real load at an admission %d", e.key, e.capacity, e.other, e.admissions, e.maxLoad)
		if e.admissions == 0 {
			t.Errorf("%s: no admission", e.key)
		}
	}
	for i, f := range failures {
		if i == 10 {
			t.Errorf("... %d more", len(failures)-i)
			break
		}
		t.Error(f)
	}

	// Quiet: once the reports are lag old, external is the other proxies'
	// streams and every count of ours is back to zero.
	time.Sleep(lag + lag/8)
	eventually(t, 50*lag, "external back to the other proxies' streams", func() bool {
		wantErr(t, "Sync", tb.Sync(report(rs), ObservedTotals(lag)), nil)
		for _, e := range engines {
			if externalOf(t, tb, e.key) != e.other {
				return false
			}
		}
		return true
	})
	for _, s := range tb.Stats() {
		if s.Active != 0 || s.Pending != 0 {
			t.Errorf("%s: %+v at the end", s.Key, s)
		}
		rec := tb.recOfKnown(s.Engine)
		if n := rec.active.Load(); n != 0 {
			t.Errorf("%s: recorded active %d at the end", s.Key, n)
		}
		if n := rec.recent.sum(1, tb.obs.gen.Load()); n != 0 {
			t.Errorf("%s: recent commits %d at the end", s.Key, n)
		}
	}
}
