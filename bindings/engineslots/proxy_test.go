package engineslots

import (
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// engineServer is a backend engine: an HTTP server that counts the streams
// it serves at once and remembers the most it ever saw.
type engineServer struct {
	*httptest.Server
	cur, max, served atomic.Int32
}

func newEngineServer(hold time.Duration) *engineServer {
	s := &engineServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.cur.Add(1)
		defer s.cur.Add(-1) // before the client can see the end of the response
		for m := s.max.Load(); n > m && !s.max.CompareAndSwap(m, n); m = s.max.Load() {
		}
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		s.served.Add(1)
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // the stream started: the proxy commits
		time.Sleep(hold)         // the stream runs
		_, _ = io.WriteString(w, "bye")
	}))
	return s
}

type requestKind int

const (
	normal requestKind = iota
	failing
	forgetting
)

// proxyStats counts what the proxy's requests did.
type proxyStats struct {
	served, cancelled, forgotten, lateCommits atomic.Int32
	maxToCommit                               atomic.Int64
}

// proxy is one request through a proxy that places streams with tb: the
// production flow of the seed, engine key = engine URL.
func proxy(tb *Table, client *http.Client, kind requestKind, r *rand.Rand, st *proxyStats) error {
	var k *Ticket
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 16*time.Millisecond) {
		var err error
		k, err = tb.Reserve()
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNoCapacity) {
			return err
		}
		// A real proxy would answer 503; the test's client retries.
		time.Sleep(backoff/2 + time.Duration(r.Int63n(int64(backoff))))
	}
	if kind == forgetting {
		st.forgotten.Add(1)
		return nil // an error path that loses the ticket: the lease wins it back
	}
	start := time.Now()
	defer k.Finish() // cancels if the stream never started, releases if it did

	path := "/stream"
	if kind == failing {
		path = "/fail"
	}
	resp, err := client.Get(k.Key() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		st.cancelled.Add(1)
		return nil // Finish cancels
	}
	if err := k.Commit(); err != nil {
		st.lateCommits.Add(1)
		return fmt.Errorf("commit after %v: %w", time.Since(start), err)
	}
	if d := int64(time.Since(start)); d > st.maxToCommit.Load() {
		st.maxToCommit.Store(d) // approximate max, for the log
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	st.served.Add(1)
	return nil // the client left: Finish releases
}

// The seed's production scenario, end to end: bursts of hundreds of
// concurrent requests over engines that take 2 streams each, some failing
// to start, some leaking their ticket. No engine may ever see more than 2
// streams, and nothing may leak.
func TestProxyScenario(t *testing.T) {
	const (
		nEngines  = 5
		perEngine = 2
		bursts    = 3
		burstSize = 300
		hold      = 3 * time.Millisecond
		// Longer than any reserve->commit on a loaded 2-core machine under
		// -race (100 ms was not): a lease that runs out under a live
		// request turns its commit into ErrStale.
		lease = time.Second
	)
	tb := newTable(t, func(c *Config) {
		c.MaxEngines = 8
		c.MaxTickets = 128
		c.DefaultCapacity = perEngine
		c.PendingLease = lease
	})
	servers := map[string]*engineServer{}
	var infos []EngineInfo
	for i := 0; i < nEngines; i++ {
		s := newEngineServer(hold)
		defer s.Close()
		servers[s.URL] = s
		infos = append(infos, EngineInfo{Key: s.URL})
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * perEngine}}
	defer client.CloseIdleConnections()

	var st proxyStats
	var forgotten int
	for b := 0; b < bursts; b++ {
		// The orchestrator's refresh: in the middle burst one engine is
		// missing (drained), then it comes back (undrained).
		list := infos
		if b == 1 {
			list = infos[1:]
		}
		wantErr(t, "Sync", tb.Sync(list), nil)

		var wg sync.WaitGroup
		errs := make(chan error, burstSize)
		for i := 0; i < burstSize; i++ {
			kind := normal
			switch {
			case i%10 == 3:
				kind = failing
			case i%50 == 7:
				kind = forgetting
				forgotten++
			}
			wg.Add(1)
			go func(i int, kind requestKind) {
				defer wg.Done()
				r := rand.New(rand.NewSource(int64(b*burstSize + i)))
				if err := proxy(tb, client, kind, r, &st); err != nil {
					errs <- err
				}
			}(i, kind)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("burst %d: %v", b, err)
		}
	}

	// The forgotten tickets come back after their lease, without help from
	// the test other than one eager reclaim.
	time.Sleep(lease + 20*time.Millisecond)
	tb.ReclaimExpired()
	var expired uint64
	for _, s := range tb.Stats() {
		if s.Active != 0 || s.Pending != 0 || s.External != 0 || s.Draining {
			t.Errorf("engine %s not idle at the end: %+v", s.Key, s)
		}
		expired += s.ExpiredTotal
	}
	if c := tb.TicketCounts(); c.Free != 128 {
		t.Errorf("tickets leaked: %+v", c)
	}
	if expired != uint64(forgotten) {
		t.Errorf("expired %d tickets, %d were forgotten", expired, forgotten)
	}
	maxSeen := int32(0)
	var served int32
	for url, s := range servers {
		if m := s.max.Load(); m > perEngine {
			t.Errorf("engine %s saw %d concurrent streams (max %d)", url, m, perEngine)
		}
		maxSeen = max(maxSeen, s.max.Load())
		served += s.served.Load()
	}
	if maxSeen != perEngine {
		t.Errorf("no engine was ever full (max %d): the test did not stress admission", maxSeen)
	}
	if served != st.served.Load() || int(st.served.Load()+st.cancelled.Load()+st.forgotten.Load()) != bursts*burstSize {
		t.Errorf("served %d (servers say %d), cancelled %d, forgotten %d of %d",
			st.served.Load(), served, st.cancelled.Load(), st.forgotten.Load(), bursts*burstSize)
	}
	t.Logf("served %d, cancelled %d, forgotten %d, late commits %d, slowest reserve->commit %v",
		st.served.Load(), st.cancelled.Load(), st.forgotten.Load(), st.lateCommits.Load(),
		time.Duration(st.maxToCommit.Load()))
}
