package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clientTally is what the clients saw.
type clientTally struct {
	requests, got503, got502, got500, completed, disconnected, gaveUp, unexpected atomic.Int32
	done                                                                          atomic.Int32
}

type clientKind int

const (
	kindNormal     clientKind = iota // reads its whole stream
	kindDisconnect                   // leaves after the first chunk
	kindFailing                      // its engine fails to start the stream (500)
)

// TestE2E runs 300 concurrent clients through the proxy while engines
// come and go and the orchestrator reports counts late:
//
//   - e0..e3 stream 10 chunks 10 ms apart; e2 also runs 1 stream of another
//     proxy the whole time (the orchestrator counts it; the table must
//     leave room for it);
//   - "dead" is listed (unhealthy) at an address that refuses connections;
//   - 1 client in 10 asks for a stream its engine fails to start (500),
//     1 in 5 disconnects after the first chunk;
//   - the orchestrator reports each engine's count as it was 15 ms earlier
//     (the proxy's observed lag is 100 ms: the slack covers a refresh that
//     applies its report late on a loaded machine, see
//     engineslots.ObservedTotals);
//   - after 100 clients are done e1 is no longer listed (drained, then
//     removed), after 150 e4 is added.
//
// Each engine counts its own streams: none may ever run more than its
// capacity, all must be back to zero at the end, and /metrics must agree
// with what the engines counted.
func TestE2E(t *testing.T) {
	const (
		clients = 300
		chunks  = 10
		every   = 10 * time.Millisecond  // 100 ms streams
		delay   = 15 * time.Millisecond  // how late the orchestrator reports
		lag     = 100 * time.Millisecond // the proxy's -observed-lag: the delay plus slack for a slow refresh
	)
	engines := []*testEngine{
		newTestEngine(t, "e0", 2, 0, chunks, every),
		newTestEngine(t, "e1", 3, 0, chunks, every),
		newTestEngine(t, "e2", 4, 1, chunks, every),
		newTestEngine(t, "e3", 3, 0, chunks, every),
	}
	e1 := engines[1]
	e4 := newTestEngine(t, "e4", 4, 0, chunks, every)
	all := append(append([]*testEngine(nil), engines...), e4)

	orch := newFakeOrchestrator(t, delay, engines...)
	unhealthy := false
	dead := EngineReport{Key: "dead", Address: deadAddress(t), Capacity: 2, Healthy: &unhealthy}
	orch.extra = []EngineReport{dead}

	opts := testOptions(orch.srv.URL)
	opts.ObservedLag = lag
	tp := startProxy(t, opts, nil)
	tp.waitEngines(t, 5)

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, Proxy: nil}}
	defer client.CloseIdleConnections()

	var tally clientTally
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < clients; i++ {
		kind := kindNormal
		switch {
		case i%10 == 3:
			kind = kindFailing
		case i%5 == 1:
			kind = kindDisconnect
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer tally.done.Add(1)
			<-start
			runClient(ctx, t, client, tp.front.URL, i, kind, chunks, &tally)
		}()
	}

	// Mid-run: drop e1 after 100 clients are done, add e4 after 150.
	var removedArrivals int32 = -1
	eventsDone := make(chan struct{})
	go func() {
		defer close(eventsDone)
		waitDone := func(n int32) bool {
			for tally.done.Load() < n {
				if ctx.Err() != nil {
					return false
				}
				time.Sleep(time.Millisecond)
			}
			return true
		}
		if !waitDone(100) {
			return
		}
		t.Logf("removing e1 with %d streams running on it", e1.cur.Load())
		orch.remove(e1)
		if !waitDone(150) {
			return
		}
		t.Logf("adding e4")
		orch.add(e4)
		// e1 leaves the table once its last stream is done; from then on
		// no request can reach it.
		for ctx.Err() == nil {
			gone := true
			for _, s := range tp.table.Stats() {
				if s.Key == "e1" {
					gone = false
				}
			}
			if gone {
				removedArrivals = e1.arrivals.Load()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()

	began := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	<-eventsDone
	if ctx.Err() != nil {
		t.Fatalf("clients did not finish in time: %v", ctx.Err())
	}

	// Engines stop counting a cut stream when they notice the closed
	// connection: wait for that, then for the table to catch up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := 0
		for _, e := range all {
			busy += int(e.cur.Load() - e.foreign)
		}
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("engines still count %d streams", busy)
		}
		time.Sleep(time.Millisecond)
	}
	// Then the reports catch up (delay), and the streams we released stop
	// counting as external load once their commit is lag old (until then
	// the report may not show a stream the engine still ends, see
	// engineslots.ObservedTotals): every engine's external load comes back
	// to the other proxy's streams.
	var m map[string]float64
	deadline = time.Now().Add(10 * time.Second)
	for {
		orch.waitFetches(t, 2)
		m = scrape(t, tp.front.URL)
		settled := true
		for _, e := range all {
			if e != e1 && metric(m, "engineslots_engine_external", "engine="+e.key) != float64(e.foreign) {
				settled = false
			}
		}
		if settled || time.Now().After(deadline) {
			break
		}
		time.Sleep(lag / 4)
	}

	t.Logf("%d clients in %v: %d requests, %d completed, %d disconnected, %d failed (500), %d busy answers (503), %d dead-engine answers (502)",
		clients, elapsed.Round(time.Millisecond), tally.requests.Load(), tally.completed.Load(), tally.disconnected.Load(),
		tally.got500.Load(), tally.got503.Load(), tally.got502.Load())
	for _, e := range all {
		t.Logf("%s: capacity %d, max %d at once (%d of another proxy), %d requests, %d streams started, %d completed, %d cut, %d failed",
			e.key, e.capacity, e.max.Load(), e.foreign, e.arrivals.Load(), e.started.Load(), e.completed.Load(), e.cut.Load(), e.failed.Load())
	}

	// What the clients saw.
	if n := tally.unexpected.Load() + tally.gaveUp.Load(); n != 0 {
		t.Errorf("%d clients saw something unexpected or gave up", n)
	}
	if got, want := tally.completed.Load()+tally.disconnected.Load()+tally.got500.Load(), int32(clients); got != want {
		t.Errorf("clients that ended: %d, want %d", got, want)
	}

	// What the engines saw: never above capacity, all back to zero.
	var started, completed int32
	for _, e := range all {
		if int(e.max.Load()) > e.capacity {
			t.Errorf("%s ran %d streams at once, capacity %d", e.key, e.max.Load(), e.capacity)
		}
		if e.cur.Load() != e.foreign {
			t.Errorf("%s still runs %d streams", e.key, e.cur.Load()-e.foreign)
		}
		if got := e.completed.Load() + e.cut.Load(); got != e.started.Load() {
			t.Errorf("%s: %d completed + cut, %d started", e.key, got, e.started.Load())
		}
		started += e.started.Load()
		completed += e.completed.Load()
	}
	if e4.started.Load() == 0 {
		t.Errorf("the added engine e4 got no stream")
	}
	if removedArrivals < 0 {
		t.Errorf("e1 was never removed from the table")
	} else if got := e1.arrivals.Load(); got != removedArrivals {
		t.Errorf("e1 got %d requests after it left the table", got-removedArrivals)
	}

	// What the metrics say, against the engines' own counts.
	for _, e := range all {
		key := "engine=" + e.key
		if got := metric(m, "esproxy_upstream_requests_total", key, "result=started"); got != float64(e.started.Load()) {
			t.Errorf("%s: metrics count %v started streams, the engine %d", e.key, got, e.started.Load())
		}
		if got := metric(m, "esproxy_upstream_requests_total", key, "result=failed_status"); got != float64(e.failed.Load()) {
			t.Errorf("%s: metrics count %v failed starts, the engine %d", e.key, got, e.failed.Load())
		}
		if e == e1 {
			if hasMetric(m, "engineslots_engine_capacity", key) {
				t.Errorf("e1 is still in the table's metrics")
			}
			continue
		}
		if got := metric(m, "engineslots_engine_reserved_total", key); got != float64(e.arrivals.Load()) {
			t.Errorf("%s: %v reservations, the engine got %d requests", e.key, got, e.arrivals.Load())
		}
		if got := metric(m, "engineslots_engine_capacity", key); got != float64(e.capacity) {
			t.Errorf("%s: capacity gauge %v, want %d", e.key, got, e.capacity)
		}
		if got := metric(m, "engineslots_engine_external", key); got != float64(e.foreign) {
			t.Errorf("%s: external gauge %v, want %d (another proxy's streams)", e.key, got, e.foreign)
		}
		for _, g := range []string{"engineslots_engine_active", "engineslots_engine_pending"} {
			if !hasMetric(m, g, key) {
				t.Errorf("%s: no %s", e.key, g)
			} else if v := metric(m, g, key); v != 0 {
				t.Errorf("%s: %s = %v at the end", e.key, g, v)
			}
		}
	}
	for _, state := range []string{"pending", "active"} {
		if v := metric(m, "engineslots_tickets", "state="+state); v != 0 {
			t.Errorf("%v %s tickets at the end", v, state)
		}
	}
	deadKey := "engine=dead"
	if got := metric(m, "esproxy_upstream_requests_total", deadKey, "result=no_answer"); got != float64(tally.got502.Load()) {
		t.Errorf("dead engine: %v failed connects in metrics, clients got %d 502s", got, tally.got502.Load())
	}
	if got := metric(m, "engineslots_engine_reserved_total", deadKey); got != float64(tally.got502.Load()) {
		t.Errorf("dead engine: %v reservations, clients got %d 502s", got, tally.got502.Load())
	}
	out := func(o string) float64 { return metric(m, "esproxy_requests_total", "outcome="+o) }
	if got := out(outcomeNoCapacity); got != float64(tally.got503.Load()) {
		t.Errorf("no_capacity: %v, clients got %d 503s", got, tally.got503.Load())
	}
	if got, want := out(outcomeUpstreamError), float64(tally.got502.Load()+tally.got500.Load()); got != want {
		t.Errorf("upstream_error: %v, clients got %v 502s and 500s", got, want)
	}
	// A stream the engine started ended ok or with its client gone (a
	// disconnecting client may still have been sent everything).
	if got := out(outcomeOK) + out(outcomeClientGone); got != float64(started) {
		t.Errorf("ok + client_gone = %v, engines started %d streams", got, started)
	}
	if ok := out(outcomeOK); ok < float64(tally.completed.Load()) || ok > float64(completed) {
		t.Errorf("ok = %v, want between %d (clients that read it all) and %d (streams engines completed)", ok, tally.completed.Load(), completed)
	}
	if out(outcomeClientGone) == 0 {
		t.Errorf("no stream ended with its client gone")
	}
	var total float64
	for k, v := range m {
		if strings.HasPrefix(k, "esproxy_requests_total{") {
			total += v
		}
	}
	if total != float64(tally.requests.Load()) {
		t.Errorf("metrics count %v requests, clients made %d", total, tally.requests.Load())
	}
	for _, o := range []string{outcomePanic, outcomeTimeout, outcomeLeaseLost, outcomeLostSlot, outcomeError, outcomeUpstreamAborted, outcomeShutdown} {
		if v := out(o); v != 0 {
			t.Errorf("%v requests ended with %s", v, o)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", dumpMetrics(m))
	}
}

// runClient makes one client's stream: it retries busy answers (503) and
// the dead engine (502) until its stream ran.
func runClient(ctx context.Context, t *testing.T, client *http.Client, url string, id int, kind clientKind, chunks int, tally *clientTally) {
	r := rand.New(rand.NewSource(int64(id)))
	backoff := func(attempt int) { // 5-15 ms, doubling up to 40-120 ms
		base := 10 * time.Millisecond << min(attempt-1, 3)
		d := base/2 + time.Duration(r.Int63n(int64(base)))
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			tally.gaveUp.Add(1)
			return
		}
		rctx, cancel := context.WithCancel(ctx)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, fmt.Sprintf("%s/stream/%d", url, id), nil)
		if kind == kindFailing {
			req.Header.Set("X-Test-Fail", "1")
		}
		tally.requests.Add(1)
		res, err := client.Do(req)
		if err != nil {
			cancel()
			t.Logf("client %d: %v", id, err)
			tally.unexpected.Add(1)
			return
		}
		switch {
		case res.StatusCode == http.StatusServiceUnavailable:
			tally.got503.Add(1)
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			cancel()
			backoff(attempt)
			continue
		case res.StatusCode == http.StatusBadGateway:
			tally.got502.Add(1)
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			cancel()
			backoff(attempt)
			continue
		case res.StatusCode == http.StatusInternalServerError && kind == kindFailing:
			tally.got500.Add(1)
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			cancel()
			return
		case res.StatusCode != http.StatusOK || kind == kindFailing:
			t.Logf("client %d (kind %d): %s", id, kind, res.Status)
			tally.unexpected.Add(1)
			res.Body.Close()
			cancel()
			return
		}
		sc := bufio.NewScanner(res.Body)
		lines := 0
		var engine string
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 || f[1] != fmt.Sprint(lines) || (engine != "" && f[0] != engine) {
				t.Logf("client %d: bad line %q", id, sc.Text())
				tally.unexpected.Add(1)
				break
			}
			engine = f[0]
			lines++
			if kind == kindDisconnect {
				break
			}
		}
		if kind == kindDisconnect {
			cancel() // the client goes away mid-stream
			res.Body.Close()
			tally.disconnected.Add(1)
			return
		}
		err = sc.Err()
		res.Body.Close()
		cancel()
		if err != nil || lines != chunks {
			t.Logf("client %d: %d of %d chunks: %v", id, lines, chunks, err)
			tally.unexpected.Add(1)
			return
		}
		tally.completed.Add(1)
		return
	}
}

func dumpMetrics(m map[string]float64) string {
	var lines []string
	for k, v := range m {
		if strings.HasPrefix(k, "esproxy_") || strings.HasPrefix(k, "engineslots_") {
			lines = append(lines, fmt.Sprintf("%s %v", k, v))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
