package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// testEngine is an upstream engine: an HTTP server that streams chunks and
// counts, by itself, the streams it runs at once and the most it ever ran.
type testEngine struct {
	key      string
	capacity int
	foreign  int32 // streams another proxy runs on it the whole time
	chunks   int
	every    time.Duration
	srv      *httptest.Server

	cur, max                                  atomic.Int32
	arrivals, started, failed, completed, cut atomic.Int32
}

func newTestEngine(t testing.TB, key string, capacity int, foreign int32, chunks int, every time.Duration) *testEngine {
	e := &testEngine{key: key, capacity: capacity, foreign: foreign, chunks: chunks, every: every}
	e.cur.Store(foreign)
	e.max.Store(foreign)
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *testEngine) addr() string { return e.srv.Listener.Addr().String() }

// serve is one stream. The count drops before the handler returns, so
// before the client can see the end of the response.
func (e *testEngine) serve(w http.ResponseWriter, r *http.Request) {
	n := e.cur.Add(1)
	defer e.cur.Add(-1)
	for m := e.max.Load(); n > m && !e.max.CompareAndSwap(m, n); m = e.max.Load() {
	}
	e.arrivals.Add(1)
	if r.Header.Get("X-Test-Fail") != "" {
		e.failed.Add(1)
		http.Error(w, "engine failed to start the stream", http.StatusInternalServerError)
		return
	}
	if d, err := time.ParseDuration(r.Header.Get("X-Test-Header-Delay")); err == nil {
		select { // an engine slow to answer
		case <-time.After(d):
		case <-r.Context().Done():
			e.cut.Add(1)
			return
		}
	}
	chunks, every := e.chunks, e.every
	if d, err := time.ParseDuration(r.Header.Get("X-Test-Every")); err == nil {
		every = d
	}
	e.started.Add(1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush() // the stream started: the proxy commits
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := 0; i < chunks; i++ {
		select {
		case <-r.Context().Done():
			e.cut.Add(1)
			return
		case <-tick.C:
		}
		if _, err := fmt.Fprintf(w, "%s %d\n", e.key, i); err != nil {
			e.cut.Add(1)
			return
		}
		if err := rc.Flush(); err != nil {
			e.cut.Add(1)
			return
		}
	}
	e.completed.Add(1)
}

// fakeOrchestrator lists engines like an orchestrator: every stream on
// each engine (the proxy's included), as the engine counted it delay ago.
type fakeOrchestrator struct {
	srv   *httptest.Server
	delay time.Duration

	mu      sync.Mutex
	engines []*testEngine
	extra   []EngineReport           // engines without a server (dead ones)
	history map[*testEngine][]sample // recent counts, oldest first
	fetches atomic.Int64
	stop    chan struct{}
	done    chan struct{}
}

type sample struct {
	at time.Time
	n  int32
}

func newFakeOrchestrator(t testing.TB, delay time.Duration, engines ...*testEngine) *fakeOrchestrator {
	o := &fakeOrchestrator{delay: delay, engines: engines, history: map[*testEngine][]sample{},
		stop: make(chan struct{}), done: make(chan struct{})}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	go o.sampleLoop()
	t.Cleanup(func() {
		close(o.stop)
		<-o.done
		o.srv.Close()
	})
	return o
}

// sampleLoop records each engine's count every millisecond, so a report
// can give the count as it was delay ago.
func (o *fakeOrchestrator) sampleLoop() {
	defer close(o.done)
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case now := <-t.C:
			o.mu.Lock()
			for _, e := range o.engines {
				h := append(o.history[e], sample{now, e.cur.Load()})
				cut := 0
				for cut < len(h)-1 && now.Sub(h[cut+1].at) >= o.delay {
					cut++ // keep the newest sample at least delay old
				}
				o.history[e] = h[cut:]
			}
			o.mu.Unlock()
		}
	}
}

// streams is e's count as of delay ago (the oldest kept sample).
func (o *fakeOrchestrator) streams(e *testEngine) int {
	if o.delay == 0 {
		return int(e.cur.Load())
	}
	if h := o.history[e]; len(h) > 0 {
		return int(h[0].n)
	}
	return int(e.foreign)
}

func (o *fakeOrchestrator) serve(w http.ResponseWriter, _ *http.Request) {
	o.fetches.Add(1)
	o.mu.Lock()
	list := make([]EngineReport, 0, len(o.engines)+len(o.extra))
	for _, e := range o.engines {
		list = append(list, EngineReport{Key: e.key, Address: e.addr(), Capacity: e.capacity, Streams: o.streams(e)})
	}
	list = append(list, o.extra...)
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

func (o *fakeOrchestrator) add(e *testEngine) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.engines = append(o.engines, e)
}

func (o *fakeOrchestrator) remove(e *testEngine) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, x := range o.engines {
		if x == e {
			o.engines = append(o.engines[:i], o.engines[i+1:]...)
			delete(o.history, e)
			return
		}
	}
}

// waitFetches waits until the orchestrator has been read n more times.
func (o *fakeOrchestrator) waitFetches(t testing.TB, n int64) {
	t.Helper()
	target := o.fetches.Load() + n
	deadline := time.Now().Add(10 * time.Second)
	for o.fetches.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy stopped reading the orchestrator")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// deadAddress is an address where nothing listens: connections are refused.
func deadAddress(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// testProxy is a Proxy behind a test server that also serves /metrics.
type testProxy struct {
	*Proxy
	front  *httptest.Server
	cancel context.CancelFunc
}

func testOptions(orchestratorURL string) Options {
	o := DefaultOptions()
	o.OrchestratorURL = orchestratorURL
	o.RefreshInterval = 10 * time.Millisecond
	o.ObservedLag = 100 * time.Millisecond
	o.PendingLease = 10 * time.Second
	o.HeaderTimeout = 5 * time.Second
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	return o
}

func startProxy(t testing.TB, opts Options, wrap func(http.Handler) http.Handler) *testProxy {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := New(opts, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.Start(ctx)
	var h http.Handler = p
	if wrap != nil {
		h = wrap(p)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", h)
	tp := &testProxy{Proxy: p, front: httptest.NewServer(mux), cancel: cancel}
	t.Cleanup(func() {
		tp.front.Close()
		cancel()
		_ = p.Close(context.Background())
	})
	return tp
}

// waitEngines waits until the table has the given number of engines.
func (tp *testProxy) waitEngines(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(tp.table.Stats()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("table has %d engines, want %d", len(tp.table.Stats()), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// scrape reads /metrics and returns every sample as "name{k=v,...}" (labels
// sorted) -> value.
func scrape(t testing.TB, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("/metrics: %s: %s", res.Status, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
			out[name+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return out
}

// metric is one sample of m, 0 if absent; labels as "k=v" pairs.
func metric(m map[string]float64, name string, labels ...string) float64 {
	sort.Strings(labels)
	return m[name+"{"+strings.Join(labels, ",")+"}"]
}

func hasMetric(m map[string]float64, name string, labels ...string) bool {
	sort.Strings(labels)
	_, ok := m[name+"{"+strings.Join(labels, ",")+"}"]
	return ok
}
