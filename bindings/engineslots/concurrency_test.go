package engineslots

import (
	"errors"
	"math/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Close waits for a call in flight and refuses new ones meanwhile.
func TestGateCloseWaits(t *testing.T) {
	var g gate
	s, ok := g.enter(3)
	if !ok {
		t.Fatal("enter on an open gate failed")
	}
	closed := make(chan bool)
	go func() { closed <- g.close() }()
	eventually(t, 5*time.Second, "closed flag", g.isClosed)
	if _, ok := g.enter(5); ok {
		t.Fatal("enter succeeded on a closing gate")
	}
	select {
	case <-closed:
		t.Fatal("close returned with a call in flight")
	case <-time.After(30 * time.Millisecond):
	}
	g.exit(s)
	if !<-closed {
		t.Fatal("first close reported already closed")
	}
	if g.close() {
		t.Fatal("second close reported success")
	}
	if g.busy() {
		t.Fatal("refused enter left a count behind")
	}
}

// Many goroutines reserving at once never hold more tickets on an engine
// than its capacity, while the control calls run concurrently.
func TestConcurrentNoOvercommit(t *testing.T) {
	const engines, capacity, workers = 4, 3, 8
	rounds := 2000
	if remoteTests() {
		rounds = 400 // each call is a round trip; 8 workers still contend for 12 slots
	}
	tb := newTable(t, func(c *Config) { c.MaxTickets = 64; c.PendingLease = time.Second })
	var held [engines]atomic.Int32
	index := map[Engine]int{}
	for i := 0; i < engines; i++ {
		index[mustAdd(t, tb, string(rune('a'+i)), capacity)] = i
	}
	var over atomic.Int32
	var workersWG, controlWG sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < workers; w++ {
		workersWG.Add(1)
		go func(seed int64) {
			defer workersWG.Done()
			r := rand.New(rand.NewSource(seed))
			for i := 0; i < rounds; i++ {
				k, err := tb.Reserve()
				if errors.Is(err, ErrNoCapacity) {
					runtime.Gosched()
					continue
				}
				if err != nil {
					t.Errorf("Reserve: %v", err)
					return
				}
				h := &held[index[k.Engine()]]
				if h.Add(1) > capacity {
					over.Add(1)
				}
				if r.Intn(4) == 0 {
					h.Add(-1)
					if err := k.Cancel(); err != nil {
						t.Errorf("Cancel: %v", err)
					}
					continue
				}
				if err := k.Commit(); err != nil {
					t.Errorf("Commit: %v", err)
				}
				runtime.Gosched()
				h.Add(-1)
				if err := k.Release(); err != nil {
					t.Errorf("Release: %v", err)
				}
			}
		}(int64(w))
	}
	// Control traffic that must not disturb admission.
	controlWG.Add(1)
	go func() {
		defer controlWG.Done()
		var es []Engine
		for e := range index {
			es = append(es, e)
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			e := es[i%len(es)]
			_ = tb.SetHealthy(e, i%3 != 0)
			_ = tb.SetPriority(e, i%5)
			if i%7 == 0 {
				_ = tb.Drain(e)
				_ = tb.Undrain(e)
			}
			_ = tb.Stats()
			_ = tb.ReclaimExpired()
			time.Sleep(100 * time.Microsecond)
		}
	}()
	workersWG.Wait()
	close(stop)
	controlWG.Wait()
	if n := over.Load(); n != 0 {
		t.Fatalf("%d admissions above capacity", n)
	}
	for _, s := range tb.Stats() {
		if s.Active+s.Pending != 0 {
			t.Fatalf("engine left with tickets: %+v", s)
		}
	}
	if c := tb.TicketCounts(); c.Free != 64 {
		t.Fatalf("tickets leaked: %+v", c)
	}
}

// Close racing calls in flight: no crash, no use after free (the race
// detector and cgocheck watch), every call either works or says ErrClosed,
// and exactly one of several concurrent Close calls succeeds.
func TestCloseRacesCalls(t *testing.T) {
	for round := 0; round < 12; round++ {
		tb, err := openTestTable(t, Config{MaxEngines: 8, MaxTickets: 64, DefaultCapacity: 4,
			PendingLease: 5 * time.Millisecond})
		wantErr(t, "New", err, nil)
		for i := 0; i < 4; i++ {
			mustAdd(t, tb, string(rune('a'+i)), 4)
		}
		allowed := func(err error) bool {
			return err == nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrNoCapacity) ||
				errors.Is(err, ErrStale) || errors.Is(err, ErrExists) || errors.Is(err, ErrTableFull) ||
				errors.Is(err, ErrNotFound)
		}
		var wg sync.WaitGroup
		var bad atomic.Value
		check := func(what string, err error) {
			if !allowed(err) {
				bad.Store(what + ": " + err.Error())
			}
		}
		var held sync.Map // tickets still held when the table closes
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; ; i++ {
					k, err := tb.Reserve()
					check("Reserve", err)
					if errors.Is(err, ErrClosed) {
						return
					}
					if err == nil {
						check("Commit", k.Commit())
						check("Touch", k.Touch())
						if i%5 == 0 {
							held.Store(k, true) // left for after Close
						} else {
							check("Finish", k.Finish())
						}
					}
					switch i % 8 {
					case 0:
						_ = tb.Stats()
					case 1:
						_ = tb.ReclaimExpired()
					case 2:
						e, err := tb.FindEngine("a")
						check("FindEngine", err)
						check("SetExternal", tb.SetExternal(e, i%2))
					case 3:
						e, err := tb.AddEngine("x", 1)
						check("AddEngine", err)
						if err == nil {
							check("Remove", tb.Remove(e))
						}
					case 4:
						check("Sync", tb.Sync([]EngineInfo{{Key: "a", Capacity: 4},
							{Key: "b", Capacity: 4}, {Key: "c", Capacity: 4},
							{Key: "d", Capacity: 4}}))
					case 5:
						_ = tb.TicketCounts()
					}
				}
			}(w)
		}
		time.Sleep(time.Duration(1+round%4) * time.Millisecond)
		var closers sync.WaitGroup
		var wins atomic.Int32
		for c := 0; c < 3; c++ {
			closers.Add(1)
			go func() {
				defer closers.Done()
				switch err := tb.Close(); err {
				case nil:
					wins.Add(1)
				case ErrClosed:
				default:
					bad.Store("Close: " + err.Error())
				}
			}()
		}
		closers.Wait()
		wg.Wait()
		if msg := bad.Load(); msg != nil {
			t.Fatalf("round %d: %v", round, msg)
		}
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d Close calls succeeded", round, wins.Load())
		}
		held.Range(func(k, _ any) bool {
			wantErr(t, "Finish after Close", k.(*Ticket).Finish(), ErrClosed)
			return true
		})
	}
}
