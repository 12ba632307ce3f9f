package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// get makes one request with extra headers and returns the status and how
// reading the body ended.
func get(t *testing.T, url string, headers ...string) (status int, body string, readErr error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// quiet waits until the engines run nothing and the table counts nothing
// of ours, then until no engine counts a finished stream as external any
// more: a released stream stays external load until a report says the
// engine no longer runs it, and one committed within the observed lag
// until its commit is that old (engineslots.ObservedTotals).
func quiet(t *testing.T, tp *testProxy, orch *fakeOrchestrator, engines ...*testEngine) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		busy := 0
		for _, e := range engines {
			busy += int(e.cur.Load() - e.foreign)
		}
		for _, s := range tp.table.Stats() {
			busy += s.Active + s.Pending
		}
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d streams counted", busy)
		}
		time.Sleep(time.Millisecond)
	}
	foreign := map[string]int{}
	for _, e := range engines {
		foreign[e.key] = int(e.foreign)
	}
	for {
		orch.waitFetches(t, 2)
		extra := 0
		for _, s := range tp.table.Stats() {
			if f, ok := foreign[s.Key]; ok {
				extra += s.External - f
			}
		}
		if extra == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("finished streams still counted as external: %d", extra)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPanicFinishesTicket: a panic while streaming (here from a response
// writer wrapped around the proxy) still finishes the ticket; the client
// sees a broken stream, or a 500 if nothing was sent yet.
func TestPanicFinishesTicket(t *testing.T) {
	e := newTestEngine(t, "e", 1, 0, 5, 5*time.Millisecond)
	orch := newFakeOrchestrator(t, 0, e)
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Header.Get("X-Test-Panic") {
			case "write":
				w = &panicWriter{ResponseWriter: w, onWrite: true}
			case "header":
				w = &panicWriter{ResponseWriter: w}
			}
			h.ServeHTTP(w, r)
		})
	}
	opts := testOptions(orch.srv.URL)
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // the panics are expected
	tp := startProxy(t, opts, wrap)
	tp.waitEngines(t, 1)

	status, _, err := get(t, tp.front.URL+"/s", "X-Test-Panic", "write")
	if status != http.StatusOK || err == nil {
		t.Errorf("panic mid-stream: status %d, read error %v; want 200 and a broken body", status, err)
	}
	quiet(t, tp, orch, e)
	status, _, err = get(t, tp.front.URL+"/s", "X-Test-Panic", "header")
	if status != http.StatusInternalServerError || err != nil {
		t.Errorf("panic before the response: status %d, %v; want 500", status, err)
	}
	quiet(t, tp, orch, e)
	// The engine's slot is free again: a normal stream goes through.
	if status, body, err := get(t, tp.front.URL+"/s"); status != http.StatusOK || err != nil || strings.Count(body, "\n") != 5 {
		t.Errorf("after the panics: status %d, %q, %v", status, body, err)
	}
	m := scrape(t, tp.front.URL)
	if got := metric(m, "esproxy_requests_total", "outcome=panic"); got != 2 {
		t.Errorf("panic outcomes: %v, want 2", got)
	}
	if got := metric(m, "esproxy_requests_total", "outcome=ok"); got != 1 {
		t.Errorf("ok outcomes: %v, want 1", got)
	}
}

// panicWriter panics on the first body write, or on the first call of
// Header if !onWrite.
type panicWriter struct {
	http.ResponseWriter
	onWrite, panicked bool
}

func (w *panicWriter) Header() http.Header {
	if !w.onWrite && !w.panicked {
		w.panicked = true
		panic("test: Header panics")
	}
	return w.ResponseWriter.Header()
}

func (w *panicWriter) Write(b []byte) (int, error) {
	if w.onWrite {
		panic("test: Write panics")
	}
	return w.ResponseWriter.Write(b)
}

func (w *panicWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestTimeouts: an upstream slow to answer gets 504, one that goes silent
// or runs too long is cut; every ticket is finished, and the engine sees
// its stream cut.
func TestTimeouts(t *testing.T) {
	cases := []struct {
		name    string
		opts    func(*Options)
		headers []string
		status  int
		broken  bool
	}{
		{"header", func(o *Options) { o.HeaderTimeout = 100 * time.Millisecond },
			[]string{"X-Test-Header-Delay", "5s"}, http.StatusGatewayTimeout, false},
		{"idle", func(o *Options) { o.IdleTimeout = 50 * time.Millisecond },
			[]string{"X-Test-Every", "2s"}, http.StatusOK, true},
		{"duration", func(o *Options) { o.MaxStreamDuration = 150 * time.Millisecond },
			[]string{"X-Test-Every", "40ms"}, http.StatusOK, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEngine(t, "e", 1, 0, 20, 5*time.Millisecond)
			orch := newFakeOrchestrator(t, 0, e)
			opts := testOptions(orch.srv.URL)
			c.opts(&opts)
			tp := startProxy(t, opts, nil)
			tp.waitEngines(t, 1)
			began := time.Now()
			status, _, err := get(t, tp.front.URL+"/s", c.headers...)
			if status != c.status || (err != nil) != c.broken {
				t.Errorf("status %d, read error %v; want %d, broken %v", status, err, c.status, c.broken)
			}
			if d := time.Since(began); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			quiet(t, tp, orch, e)
			if e.cut.Load() != 1 {
				t.Errorf("the engine saw %d cut streams, want 1", e.cut.Load())
			}
			m := scrape(t, tp.front.URL)
			if got := metric(m, "esproxy_requests_total", "outcome=timeout"); got != 1 {
				t.Errorf("timeout outcomes: %v, want 1", got)
			}
		})
	}
}

// TestActiveLeaseTouch: with an active lease shorter than the stream, the
// proxy's touches keep the stream's slot: it runs to its end and nothing
// expires.
func TestActiveLeaseTouch(t *testing.T) {
	e := newTestEngine(t, "e", 1, 0, 10, 100*time.Millisecond) // 1 s
	orch := newFakeOrchestrator(t, 0, e)
	opts := testOptions(orch.srv.URL)
	opts.ActiveLease = 300 * time.Millisecond // touched every 100 ms
	tp := startProxy(t, opts, nil)
	tp.waitEngines(t, 1)
	status, body, err := get(t, tp.front.URL+"/s")
	if status != http.StatusOK || err != nil || strings.Count(body, "\n") != 10 {
		t.Fatalf("status %d, %d lines, %v", status, strings.Count(body, "\n"), err)
	}
	quiet(t, tp, orch, e)
	m := scrape(t, tp.front.URL)
	if got := metric(m, "engineslots_engine_expired_total", "engine=e"); got != 0 {
		t.Errorf("%v tickets expired", got)
	}
	if got := metric(m, "esproxy_touch_failures_total"); got != 0 {
		t.Errorf("%v touch failures", got)
	}
	if got := metric(m, "esproxy_requests_total", "outcome=ok"); got != 1 {
		t.Errorf("ok outcomes: %v, want 1", got)
	}
}

// TestGracefulShutdown runs the command's run loop: on the signal it stops
// accepting, lets a running stream finish, and returns; with a short
// deadline it cuts a long stream instead, and the engine sees it end.
func TestGracefulShutdown(t *testing.T) {
	for _, c := range []struct {
		name     string
		timeout  time.Duration
		complete bool
	}{
		{"streams finish", 5 * time.Second, true},
		{"deadline cuts", 100 * time.Millisecond, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEngine(t, "e", 2, 0, 10, 40*time.Millisecond) // 400 ms
			orch := newFakeOrchestrator(t, 0, e)
			s := settings{Listen: "127.0.0.1:0", ShutdownTimeout: c.timeout, Options: testOptions(orch.srv.URL)}
			addrc := make(chan string, 1)
			s.ready = func(a []net.Addr) { addrc <- a[0].String() }
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			runErr := make(chan error, 1)
			go func() { runErr <- run(ctx, s, s.Logger) }()
			url := "http://" + <-addrc

			// Wait for the engine list, then start a stream.
			deadline := time.Now().Add(5 * time.Second)
			var res *http.Response
			for {
				req, _ := http.NewRequest(http.MethodGet, url+"/s", nil)
				var err error
				res, err = http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode == http.StatusOK {
					break
				}
				res.Body.Close()
				if time.Now().After(deadline) {
					t.Fatalf("no stream: %s", res.Status)
				}
				time.Sleep(5 * time.Millisecond)
			}
			defer res.Body.Close()
			br := bufio.NewReader(res.Body)
			if _, err := br.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			stop() // SIGTERM

			// New connections are refused once the listener is closed.
			refused := false
			for time.Since(began) < 2*time.Second {
				c, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), 100*time.Millisecond)
				if err != nil {
					refused = true
					break
				}
				c.Close()
				time.Sleep(5 * time.Millisecond)
			}
			if !refused {
				t.Errorf("still accepting connections after the signal")
			}
			rest, err := io.ReadAll(br)
			lines := 1 + strings.Count(string(rest), "\n")
			if c.complete && (err != nil || lines != 10) {
				t.Errorf("stream: %d of 10 lines, %v; want it to finish", lines, err)
			}
			if !c.complete && (err == nil || lines >= 10) {
				t.Errorf("stream: %d lines, %v; want it cut at the deadline", lines, err)
			}
			select {
			case err := <-runErr:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("run did not return")
			}
			if d := time.Since(began); !c.complete && d > 2*time.Second {
				t.Errorf("shutdown took %v with a %v deadline", d, c.timeout)
			}
			deadline = time.Now().Add(5 * time.Second)
			for e.cur.Load() != 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if e.cur.Load() != 0 {
				t.Errorf("the engine still runs %d streams", e.cur.Load())
			}
		})
	}
}

func TestDecodeEngines(t *testing.T) {
	for _, body := range []string{
		`[{"key":"a","address":"127.0.0.1:1","capacity":2,"streams":1,"healthy":false}]`,
		` {"engines": [{"key":"a","address":"127.0.0.1:1","capacity":2,"streams":1,"healthy":false}]}`,
	} {
		list, err := decodeEngines([]byte(body))
		if err != nil || len(list) != 1 || list[0].Key != "a" || list[0].Capacity != 2 || list[0].Streams != 1 ||
			list[0].Healthy == nil || *list[0].Healthy {
			t.Errorf("%s: %+v, %v", body, list, err)
		}
	}
	if _, err := decodeEngines([]byte(`{"nodes": []}`)); err == nil {
		t.Errorf("an object without engines decoded")
	}
	o := &orchestrator{upstreams: map[string]*upstream{}}
	a, err := o.upstreamFor("a", "10.0.0.1:80")
	if err != nil || a.base.String() != "http://10.0.0.1:80" {
		t.Errorf("host:port: %v, %v", a, err)
	}
	if b, _ := o.upstreamFor("a", "10.0.0.1:80"); b != a {
		t.Errorf("same address, new value")
	}
	if _, err := o.upstreamFor("b", "ftp://x"); err == nil {
		t.Errorf("ftp address accepted")
	}
}

func TestSettings(t *testing.T) {
	env := map[string]string{
		"ESPROXY_ORCHESTRATOR_URL": "http://orch/engines",
		"ESPROXY_REFRESH_INTERVAL": "250ms",
		"ESPROXY_ACTIVE_LEASE":     "1m",
	}
	s, err := parseSettings([]string{"-listen", ":9000", "-refresh-interval", "2s"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s.Listen != ":9000" || s.OrchestratorURL != "http://orch/engines" || s.RefreshInterval != 2*time.Second || s.ActiveLease != time.Minute {
		t.Errorf("flags over env over defaults: %+v", s)
	}
	if _, err := parseSettings(nil, func(string) string { return "" }); err == nil {
		t.Errorf("no orchestrator URL accepted")
	}
	_, err = parseSettings([]string{"-orchestrator-url", "http://x", "-header-timeout", "1m", "-pending-lease", "30s"}, func(string) string { return "" })
	if err == nil {
		t.Errorf("a header timeout above the pending lease accepted")
	}
	env["ESPROXY_IDLE_TIMEOUT"] = "soon"
	if _, err := parseSettings(nil, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "ESPROXY_IDLE_TIMEOUT") {
		t.Errorf("bad env duration: %v", err)
	}
}
