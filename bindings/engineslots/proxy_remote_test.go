package engineslots

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The seed's incident across processes: three proxy processes place
// streams on one remote table, on engines that count their own streams.
// Each proxy is this test binary run again with ES_GO_PROXY_ROLE set.
func init() {
	children["ES_GO_PROXY_ROLE"] = proxyProcess
}

// proxyProcess is one proxy: it opens the remote table (the table's own
// config), says READY, waits for GO on stdin (so the three start
// together), syncs the engine list (as a proxy does on each orchestrator
// refresh, all three at once), serves its burst of concurrent requests
// with the proxy flow of proxy_test.go, prints its counts and exits.
func proxyProcess(role string) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "proxy %s: "+format+"\n", append([]any{role}, args...)...)
		return 1
	}
	url, name := os.Getenv("ES_GO_PROXY_URL"), os.Getenv("ES_GO_PROXY_TABLE")
	engines := strings.Fields(os.Getenv("ES_GO_PROXY_ENGINES"))
	requests, err := strconv.Atoi(os.Getenv("ES_GO_PROXY_REQUESTS"))
	if err != nil || url == "" || name == "" || len(engines) == 0 {
		return fail("bad environment: %v", err)
	}
	seed, _ := strconv.ParseInt(role, 10, 64)
	tb, err := OpenRedis(url, name, nil)
	if err != nil {
		return fail("OpenRedis: %v", err)
	}
	defer tb.Close()
	fmt.Println("READY")
	if line, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil || line != "GO\n" {
		return fail("waiting for GO: %q, %v", line, err)
	}
	var list []EngineInfo
	for _, u := range engines {
		list = append(list, EngineInfo{Key: u})
	}
	if err := tb.Sync(list); err != nil {
		return fail("Sync: %v", err)
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	var st proxyStats
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := 0; i < requests; i++ {
		kind := normal
		switch {
		case i%10 == 3:
			kind = failing
		case i%50 == 7:
			kind = forgetting
		}
		wg.Add(1)
		go func(i int, kind requestKind) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed*1000003 + int64(i)))
			if err := proxy(tb, client, kind, r, &st); err != nil {
				errs <- err
			}
		}(i, kind)
	}
	wg.Wait()
	close(errs)
	code := 0
	for err := range errs {
		code = fail("request: %v", err)
	}
	fmt.Printf("RESULT %d %d %d %d\n", st.served.Load(), st.cancelled.Load(), st.forgotten.Load(),
		st.lateCommits.Load())
	return code
}

func TestProxyScenarioThreeProcesses(t *testing.T) {
	if !remoteTests() {
		t.Skip("three processes share a remote table: this runs with ES_GO_TEST_BACKEND=redis")
	}
	const (
		procs     = 3
		nEngines  = 5
		perEngine = 2
		requests  = 200 // per proxy, all at once
		hold      = 3 * time.Millisecond
		lease     = time.Second // as in TestProxyScenario
		tickets   = 128
	)
	tb := newTable(t, func(c *Config) {
		c.MaxEngines = 8
		c.MaxTickets = tickets
		c.DefaultCapacity = perEngine
		c.PendingLease = lease
	})
	ref, _ := remoteOf.Load(tb)
	servers := map[string]*engineServer{}
	var urls []string
	for i := 0; i < nEngines; i++ {
		s := newEngineServer(hold)
		defer s.Close()
		servers[s.URL] = s
		urls = append(urls, s.URL)
	}

	type child struct {
		cmd    *exec.Cmd
		stdin  interface{ Write([]byte) (int, error) }
		out    *bufio.Reader
		stderr bytes.Buffer
	}
	var cs []*child
	defer func() { // whatever happened: no child outlives the test
		for _, c := range cs {
			if c.cmd.ProcessState == nil {
				_ = c.cmd.Process.Kill()
				_ = c.cmd.Wait()
			}
		}
	}()
	for i := 0; i < procs; i++ {
		c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$")}
		c.cmd.Env = append(os.Environ(), "ES_GO_PROXY_ROLE="+strconv.Itoa(i+1),
			"ES_GO_PROXY_URL="+ref.(remoteTableRef).url, "ES_GO_PROXY_TABLE="+ref.(remoteTableRef).name,
			"ES_GO_PROXY_ENGINES="+strings.Join(urls, " "), "ES_GO_PROXY_REQUESTS="+strconv.Itoa(requests))
		c.cmd.Stderr = &c.stderr
		in, err := c.cmd.StdinPipe()
		wantErr(t, "StdinPipe", err, nil)
		out, err := c.cmd.StdoutPipe()
		wantErr(t, "StdoutPipe", err, nil)
		c.stdin, c.out = in, bufio.NewReader(out)
		wantErr(t, "start a proxy process", c.cmd.Start(), nil)
		cs = append(cs, c)
	}
	for i, c := range cs {
		if line, err := c.out.ReadString('\n'); line != "READY\n" {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
			t.Fatalf("proxy %d: %q, %v; stderr:\n%s", i+1, line, err, c.stderr.String())
		}
	}
	for _, c := range cs {
		_, _ = c.stdin.Write([]byte("GO\n"))
	}
	var served, cancelled, forgotten, late int
	for i, c := range cs {
		line, _ := c.out.ReadString('\n')
		err := c.cmd.Wait()
		var s, cn, f, l int
		if n, _ := fmt.Sscanf(line, "RESULT %d %d %d %d", &s, &cn, &f, &l); n != 4 || err != nil {
			t.Fatalf("proxy %d: %v, said %q; stderr:\n%s", i+1, err, line, c.stderr.String())
		}
		if s+cn+f != requests {
			t.Errorf("proxy %d: served %d + cancelled %d + forgotten %d != %d requests", i+1, s, cn, f, requests)
		}
		served, cancelled, forgotten, late = served+s, cancelled+cn, forgotten+f, late+l
	}

	// No engine ever ran more than its capacity, by its own count, and
	// every engine was full at some point (admission was under stress).
	var seen int32
	for url, s := range servers {
		if m := s.max.Load(); m > perEngine {
			t.Errorf("engine %s saw %d concurrent streams (capacity %d)", url, m, perEngine)
		}
		if c := s.cur.Load(); c != 0 {
			t.Errorf("engine %s still runs %d streams", url, c)
		}
		seen += s.served.Load()
	}
	if int(seen) != served {
		t.Errorf("the proxies served %d streams, the engines %d", served, seen)
	}
	full := 0
	for _, s := range servers {
		if s.max.Load() == perEngine {
			full++
		}
	}
	if full == 0 {
		t.Error("no engine was ever full: the test did not stress admission")
	}

	// The forgotten tickets come back with their lease; then every count
	// is zero and every ticket slot free.
	time.Sleep(lease + 50*time.Millisecond)
	tb.ReclaimExpired()
	var expired uint64
	stats, err := tb.Snapshot()
	wantErr(t, "Snapshot", err, nil)
	if len(stats) != nEngines {
		t.Errorf("%d engines in the table, want %d: %+v", len(stats), nEngines, stats)
	}
	for _, s := range stats {
		if s.Active != 0 || s.Pending != 0 || s.External != 0 || s.Draining {
			t.Errorf("engine %s not idle at the end: %+v", s.Key, s)
		}
		expired += s.ExpiredTotal
	}
	if c := tb.TicketCounts(); c.Free != tickets || c.Pending != 0 || c.Active != 0 {
		t.Errorf("tickets leaked: %+v", c)
	}
	if expired != uint64(forgotten) {
		t.Errorf("expired %d tickets, the proxies forgot %d", expired, forgotten)
	}
	t.Logf("%d proxies: served %d, cancelled %d, forgotten %d, late commits %d; engines full: %d of %d",
		procs, served, cancelled, forgotten, late, full, nEngines)
}
