package engineslots

import (
	"sync"
	"testing"
	"time"
)

// observed runs Sync with ObservedTotals for one engine "a" of capacity 2
// whose orchestrator reports streams in total, and returns the external
// load Sync derived.
func observed(t *testing.T, tb *Table, streams int, lag time.Duration) int {
	t.Helper()
	wantErr(t, "Sync", tb.Sync([]EngineInfo{{Key: "a", Capacity: 2, Streams: streams}}, ObservedTotals(lag)), nil)
	e, err := tb.FindEngine("a")
	wantErr(t, "FindEngine", err, nil)
	s, err := tb.EngineStats(e)
	wantErr(t, "EngineStats", err, nil)
	return s.External
}

// The orchestrator's totals include our streams, up to lag late. Both
// directions of the lag, on an engine of capacity 2 where another proxy
// runs one stream.
func TestSyncObservedTotals(t *testing.T) {
	const lag = 150 * time.Millisecond
	tb := newTable(t)
	if ext := observed(t, tb, 1, lag); ext != 1 {
		t.Fatalf("new engine: external %d, want the reported 1", ext)
	}
	time.Sleep(lag) // the table has kept commit times for lag

	// Direction 1: a stream we committed within lag may not be reported
	// yet. Sync must not subtract it (the engine is full: 1 ours + 1
	// theirs); without the lag handling it would compute external 0 and
	// admit a third stream.
	k := mustReserve(t, tb)
	committed := time.Now() // no later than the commit
	wantErr(t, "Commit", k.Commit(), nil)
	if ext := observed(t, tb, 1, lag); ext != 1 {
		t.Fatalf("report without our new stream: external %d, want 1", ext)
	}
	_, err := tb.Reserve()
	wantErr(t, "Reserve on a full engine", err, ErrNoCapacity)
	// The report catches up early: our stream counts twice (external 2)
	// until it is lag old; safe, the engine admits nothing.
	if ext := observed(t, tb, 2, lag); ext != 2 {
		t.Fatalf("early report of our stream: external %d, want 2", ext)
	}
	// Once it is lag old, it is subtracted: external is the other proxy's 1.
	for {
		ext := observed(t, tb, 2, lag)
		if ext == 1 {
			if since := time.Since(committed); since < lag {
				t.Fatalf("our stream subtracted %v after its commit, before the lag %v", since, lag)
			}
			break
		}
		if ext != 2 {
			t.Fatalf("external %d", ext)
		}
		if time.Since(committed) > 50*lag {
			t.Fatal("our old stream never subtracted")
		}
		time.Sleep(lag / 20)
	}
	_, err = tb.Reserve()
	wantErr(t, "Reserve on a full engine", err, ErrNoCapacity)

	// Direction 2: a stream we finished within lag may still be reported.
	// It is not ours any more, so it counts as external until the report
	// drops it: the engine stays full meanwhile.
	wantErr(t, "Finish", k.Finish(), nil)
	if ext := observed(t, tb, 2, lag); ext != 2 {
		t.Fatalf("report still with our finished stream: external %d, want 2", ext)
	}
	_, err = tb.Reserve()
	wantErr(t, "Reserve while the report still counts our finished stream", err, ErrNoCapacity)
	if ext := observed(t, tb, 1, lag); ext != 1 {
		t.Fatalf("report without our finished stream: external %d, want 1", ext)
	}
	k2, err := tb.Reserve()
	wantErr(t, "Reserve once the report dropped it", err, nil)
	wantErr(t, "Finish", k2.Finish(), nil)

	// External is ignored in this mode; a total below ours is 0, not negative.
	wantErr(t, "Sync", tb.Sync([]EngineInfo{{Key: "a", Capacity: 2, External: 5}}, ObservedTotals(lag)), nil)
	if ext := observed(t, tb, 0, lag); ext != 0 {
		t.Fatalf("external %d", ext)
	}
	wantErr(t, "negative lag", tb.Sync(nil, ObservedTotals(-time.Second)), ErrInvalid)
	wantErr(t, "negative streams", tb.Sync([]EngineInfo{{Key: "a", Streams: -1}}, ObservedTotals(lag)), ErrInvalid)
}

// Streams committed before the first ObservedTotals Sync have no known
// commit time: for the first lag Sync subtracts none of ours (they count
// twice, safely), then all of them.
func TestSyncObservedTotalsStart(t *testing.T) {
	const lag = 100 * time.Millisecond
	tb := newTable(t)
	wantErr(t, "Sync", tb.Sync([]EngineInfo{{Key: "a", Capacity: 2}}), nil)
	k := mustReserve(t, tb)
	wantErr(t, "Commit", k.Commit(), nil)
	start := time.Now()
	if ext := observed(t, tb, 1, lag); ext != 1 {
		t.Fatalf("first observed Sync: external %d, want 1", ext)
	}
	if tb.b.shared() {
		// A table other processes share (a remote one here) cannot tell
		// this process's old streams from theirs: it subtracts only the
		// streams this Table committed since it keeps commit times, so
		// this one counts twice, safely, until it ends (ObservedTotals).
		time.Sleep(2 * lag)
		for i := 0; i < 3; i++ {
			if ext := observed(t, tb, 1, lag); ext != 1 {
				t.Fatalf("shared table, %v after the first observed Sync: external %d, want 1", time.Since(start), ext)
			}
		}
		_, err := tb.Reserve()
		wantErr(t, "Reserve (ours + the reported 1 on capacity 2)", err, ErrNoCapacity)
		wantErr(t, "Finish", k.Finish(), nil)
		return
	}
	eventually(t, 50*lag, "our stream subtracted", func() bool { return observed(t, tb, 1, lag) == 0 })
	if since := time.Since(start); since < lag {
		t.Fatalf("subtracted after %v, before the lag %v", since, lag)
	}
	wantErr(t, "Finish", k.Finish(), nil)
}

// Under load: clients commit and finish streams while Sync runs with
// ObservedTotals fed by an orchestrator that reports the engine's true
// total late. The engine is never above capacity, and the Go-side counts
// of recent commits are back to zero at the end.
func TestSyncObservedTotalsConcurrent(t *testing.T) {
	const lag = 20 * time.Millisecond
	const capacity = 4
	tb := newTable(t, func(c *Config) { c.MaxTickets = 64 })
	// The other proxy's stream is there from the start.
	wantErr(t, "Sync", tb.Sync([]EngineInfo{{Key: "a", Capacity: capacity, Streams: 1}}, ObservedTotals(lag)), nil)
	e, _ := tb.FindEngine("a")

	// The orchestrator: the true total (ours + 1 external stream) as it was
	// half a lag ago. A stream enters the history before its commit and
	// leaves it before its finish, as on a real engine, so the report is
	// never more than lag/2 behind a commit, however the goroutines are
	// scheduled.
	var mu sync.Mutex
	type sample struct {
		at    time.Time
		total int
	}
	var history []sample
	ours := 0
	record := func(d int) {
		mu.Lock()
		ours += d
		history = append(history, sample{time.Now(), ours + 1})
		mu.Unlock()
	}
	reported := func() int {
		mu.Lock()
		defer mu.Unlock()
		cut := time.Now().Add(-lag / 2)
		total := 1
		for _, s := range history {
			if s.at.After(cut) {
				break
			}
			total = s.total
		}
		return total
	}
	record(0)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				k, err := tb.Reserve()
				if err != nil {
					time.Sleep(time.Millisecond)
					continue
				}
				record(1) // the stream starts on the engine, then we commit
				if k.Commit() == nil {
					time.Sleep(time.Duration(1+time.Now().UnixNano()%5) * time.Millisecond)
				}
				record(-1) // the stream ends, then we finish
				_ = k.Finish()
			}
		}()
	}
	deadline := time.Now().Add(400 * time.Millisecond)
	for time.Now().Before(deadline) {
		err := tb.Sync([]EngineInfo{{Key: "a", Capacity: capacity, Streams: reported()}}, ObservedTotals(lag))
		wantErr(t, "Sync", err, nil)
		s, _ := tb.EngineStats(e)
		mu.Lock()
		trueLoad := ours + 1
		mu.Unlock()
		if trueLoad > capacity {
			t.Fatalf("engine at %d streams, capacity %d (stats %+v)", trueLoad, capacity, s)
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	r, _ := tb.recs.Load(e)
	rec := r.(*engineRec)
	if n := rec.active.Load(); n != 0 {
		t.Fatalf("recorded active %d at the end", n)
	}
	if n := rec.recent.sum(1, tb.obs.gen.Load()); n != 0 {
		t.Fatalf("recent commits %d at the end", n)
	}
}
