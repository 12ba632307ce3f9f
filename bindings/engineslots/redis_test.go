package engineslots

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// freePort is a localhost TCP port nothing listens on (at the moment).
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// errNoRedisServer: redis-server is not on PATH.
var errNoRedisServer = errors.New("redis-server not on PATH")

// skipOrFailNoRedis skips the test for a missing redis-server, or fails it
// when ES_REQUIRE_REDIS=1.
func skipOrFailNoRedis(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("ES_REQUIRE_REDIS") == "1" {
		t.Fatalf("ES_REQUIRE_REDIS=1 but %v", err)
	}
	t.Skipf("%v (set ES_REQUIRE_REDIS=1 to fail instead)", err)
}

// launchRedis starts a throw-away redis-server (no persistence, files in
// dir) on a free localhost port and returns its URL and the function that
// stops it; errNoRedisServer when redis-server is not installed.
func launchRedis(dir string) (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", errNoRedisServer, err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, fmt.Errorf("listen: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir,
			"--daemonize", "no", "--loglevel", "warning")
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			return "", nil, fmt.Errorf("start redis-server: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited: // lost the port to someone else: try another
				goto retry
			default:
			}
			if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
				_ = c.Close()
				return "redis://" + addr, stop, nil
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		return "", nil, fmt.Errorf("redis-server on %s did not come up", addr)
	retry:
	}
	return "", nil, errors.New("redis-server: no free port after 5 attempts")
}

// startRedis starts a throw-away redis-server of the test's own, stopped
// when the test ends however it ends, and returns its URL. It skips the
// test when redis-server is not on PATH, unless ES_REQUIRE_REDIS=1 (then
// it fails).
func startRedis(t *testing.T) string {
	t.Helper()
	url, stop, err := launchRedis(t.TempDir())
	if errors.Is(err, errNoRedisServer) {
		skipOrFailNoRedis(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url
}

func redisConfig() Config {
	return Config{MaxEngines: 16, MaxTickets: 256, DefaultCapacity: 2, Policy: LeastLoaded,
		PendingLease: 5 * time.Second, ActiveLease: 30 * time.Second}
}

func openRedisT(t *testing.T, url, name string, cfg *Config) *Table {
	t.Helper()
	tb, err := OpenRedis(url, name, cfg)
	if err != nil {
		t.Fatalf("OpenRedis(%q, %q): %v", url, name, err)
	}
	t.Cleanup(func() { _ = tb.Close() })
	return tb
}

func TestRedisTable(t *testing.T) {
	url := startRedis(t)
	cfg := redisConfig()
	cfg.PendingLease = 200 * time.Millisecond
	name := "go-basic"

	// Opening a table that does not exist without a config: ErrNotFound.
	if _, err := OpenRedis(url, name, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenRedis(missing, nil): %v", err)
	}
	a := openRedisT(t, url, name, &cfg)
	if a.Config() != cfg {
		t.Fatalf("Config %+v, want %+v", a.Config(), cfg)
	}
	e := mustAdd(t, a, "e1", 3)
	if _, err := a.AddEngine("e1", 3); !errors.Is(err, ErrExists) {
		t.Fatalf("AddEngine twice: %v", err)
	}
	if f, err := a.FindEngine("e1"); err != nil || f != e {
		t.Fatalf("FindEngine: %v, %v", f, err)
	}

	k1 := mustReserve(t, a)
	if k1.Engine() != e || k1.Key() != "e1" {
		t.Fatalf("ticket on %v %q", k1.Engine(), k1.Key())
	}
	if err := k1.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	k2 := mustReserve(t, a)
	if err := k2.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	k3 := mustReserve(t, a) // left pending, to expire
	if _, err := a.Reserve(); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("Reserve on a full table: %v", err)
	}
	st := a.Stats()
	if len(st) != 1 || st[0].Engine != e || st[0].Key != "e1" || st[0].Capacity != 3 ||
		st[0].Active != 2 || st[0].Pending != 1 {
		t.Fatalf("Stats %+v", st)
	}
	if err := k1.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := k2.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if err := k2.Release(); !errors.Is(err, ErrStale) {
		t.Fatalf("Release after Finish: %v", err)
	}

	// The pending lease runs out: ReclaimExpired takes the slot back.
	time.Sleep(400 * time.Millisecond)
	if n := a.ReclaimExpired(); n != 1 {
		t.Fatalf("ReclaimExpired = %d, want 1", n)
	}
	if err := k3.Commit(); !errors.Is(err, ErrStale) {
		t.Fatalf("Commit after expiry: %v", err)
	}
	snap, err := a.Snapshot()
	if err != nil || len(snap) != 1 || snap[0].Active != 0 || snap[0].Pending != 0 ||
		snap[0].ReservedTotal != 3 || snap[0].ExpiredTotal != 1 {
		t.Fatalf("Snapshot %+v, %v", snap, err)
	}
	if c := a.TicketCounts(); c.Pending != 0 || c.Active != 0 {
		t.Fatalf("TicketCounts %+v", c)
	}

	// A second Table on the same name sees the same engines, with its
	// own config when opened with nil; a different config is ErrInvalid.
	b := openRedisT(t, url, name, nil)
	if b.Config().MaxEngines != cfg.MaxEngines || b.Config().MaxTickets != cfg.MaxTickets {
		t.Fatalf("second Config %+v", b.Config())
	}
	if f, err := b.FindEngine("e1"); err != nil || f != e {
		t.Fatalf("second FindEngine: %v, %v", f, err)
	}
	other := cfg
	other.MaxEngines++
	if _, err := OpenRedis(url, name, &other); !errors.Is(err, ErrInvalid) {
		t.Fatalf("OpenRedis with another config: %v", err)
	}
	k := mustReserve(t, b)
	if k.Key() != "e1" {
		t.Fatalf("second table's ticket on %q", k.Key())
	}
	if st := a.Stats(); len(st) != 1 || st[0].Pending != 1 {
		t.Fatalf("first table does not see the second's ticket: %+v", st)
	}
	if err := k.Cancel(); err != nil {
		t.Fatalf("Cancel: %v", err)
	}

	// Unlink: gone for a nil-config open; unlinking again is ErrNotFound.
	if err := UnlinkRedis(url, name); err != nil {
		t.Fatalf("UnlinkRedis: %v", err)
	}
	if err := UnlinkRedis(url, name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UnlinkRedis twice: %v", err)
	}
	if _, err := OpenRedis(url, name, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenRedis after unlink: %v", err)
	}
	// Tables still open recreate it, empty: every old handle is stale.
	if _, err := a.FindEngine("e1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FindEngine after unlink: %v", err)
	}
	if err := a.SetCapacity(e, 1); !errors.Is(err, ErrStale) {
		t.Fatalf("SetCapacity after unlink: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Close twice: %v", err)
	}
}

// Admission is exact across Tables: 20 goroutines on two Tables reserving
// on one engine of capacity 2 never have more than 2 admitted at once.
func TestRedisAdmissionAcrossTables(t *testing.T) {
	url := startRedis(t)
	cfg := redisConfig()
	a := openRedisT(t, url, "go-admission", &cfg)
	b := openRedisT(t, url, "go-admission", nil)
	e := mustAdd(t, a, "only", 2)
	admitted, peak := contend(t, []*Table{a, b}, 20, 1500*time.Millisecond, 2*time.Millisecond,
		map[Engine]int64{e: 2})
	if p := peak; p > 2 {
		t.Fatalf("%d admitted at once on capacity 2", p)
	}
	if admitted < 10 {
		t.Fatalf("only %d admissions in 1.5s", admitted)
	}
	for _, tb := range []*Table{a, b} {
		if st := tb.Stats(); len(st) != 1 || st[0].Active != 0 || st[0].Pending != 0 ||
			st[0].ReservedTotal != uint64(admitted) {
			t.Fatalf("Stats after %d admissions: %+v", admitted, st)
		}
	}
	t.Logf("%d admissions, peak %d", admitted, peak)
}

func TestRedisErrors(t *testing.T) {
	cfg := redisConfig()
	// Nothing listens: ErrIO, quickly (timeout_ms=200).
	closed := fmt.Sprintf("redis://127.0.0.1:%d?timeout_ms=200", freePort(t))
	start := time.Now()
	if _, err := OpenRedis(closed, "go-errors", &cfg); !errors.Is(err, ErrIO) {
		t.Fatalf("OpenRedis on a closed port: %v", err)
	}
	if err := UnlinkRedis(closed, "go-errors"); !errors.Is(err, ErrIO) {
		t.Fatalf("UnlinkRedis on a closed port: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed port took %v", d)
	}
	// Malformed URLs and names: ErrInvalid, without connecting.
	for _, u := range []string{"", "http://127.0.0.1:6379", "redis://", "redis://127.0.0.1:notaport",
		"redis://127.0.0.1:6379?timeout_ms=0"} {
		if _, err := OpenRedis(u, "go-errors", &cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("OpenRedis(%q): %v, want ErrInvalid", u, err)
		}
	}
	for _, n := range []string{"", "has space", "{brace}"} {
		if _, err := OpenRedis(closed, n, &cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("OpenRedis(name %q): %v, want ErrInvalid", n, err)
		}
	}
	bad := cfg
	bad.MaxEngines = -1
	if _, err := OpenRedis(closed, "go-errors", &bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenRedis(bad config): %v, want ErrInvalid", err)
	}
}

// A table whose server goes away: the calls that can fail say ErrIO, and
// ReclaimExpired/Stats degrade to 0/nil as the SPEC says.
func TestRedisServerGone(t *testing.T) {
	url := startRedis(t)
	cfg := redisConfig()
	a := openRedisT(t, url+"?timeout_ms=200", "go-gone", &cfg)
	mustAdd(t, a, "e", 2)
	// Shut the server down (SHUTDOWN NOSAVE over the wire).
	c, err := net.Dial("tcp", url[len("redis://"):])
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_, _ = c.Write([]byte("*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Read(make([]byte, 64)) // the server closes the connection
	_ = c.Close()

	if _, err := a.Reserve(); !errors.Is(err, ErrIO) {
		t.Fatalf("Reserve on a gone server: %v", err)
	}
	if _, err := a.Snapshot(); !errors.Is(err, ErrIO) {
		t.Fatalf("Snapshot on a gone server: %v", err)
	}
	if st := a.Stats(); st != nil {
		t.Fatalf("Stats on a gone server: %+v", st)
	}
	if n := a.ReclaimExpired(); n != 0 {
		t.Fatalf("ReclaimExpired on a gone server: %d", n)
	}
	if _, err := a.AddEngine("f", 1); !errors.Is(err, ErrIO) {
		t.Fatalf("AddEngine on a gone server: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// contend runs goroutines that reserve, commit, hold the stream for hold,
// and release, on tables[i%len(tables)] in turn, until d has passed. It
// counts streams as the goroutines see them: any engine above capOf (its
// capacity) is a test error. It returns the admissions and the peak of
// streams held at once across all engines.
func contend(t *testing.T, tables []*Table, goroutines int, d, hold time.Duration,
	capOf map[Engine]int64) (admitted, peak int64) {
	t.Helper()
	var inFlight, top, n atomic.Int64
	per := make(map[Engine]*atomic.Int64, len(capOf))
	for e := range capOf {
		per[e] = new(atomic.Int64)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines)
	deadline := time.Now().Add(d)
	for i := 0; i < goroutines; i++ {
		tb := tables[i%len(tables)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				k, err := tb.Reserve()
				if errors.Is(err, ErrNoCapacity) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("Reserve: %w", err)
					return
				}
				e := k.Engine()
				on, known := per[e]
				if !known {
					errs <- fmt.Errorf("admitted on unknown engine %v", e)
					return
				}
				if m := on.Add(1); m > capOf[e] {
					errs <- fmt.Errorf("engine %v: %d admitted, capacity %d", e, m, capOf[e])
				}
				held := inFlight.Add(1)
				for p := top.Load(); held > p && !top.CompareAndSwap(p, held); p = top.Load() {
				}
				n.Add(1)
				if err := k.Commit(); err != nil {
					errs <- fmt.Errorf("Commit: %w", err)
					return
				}
				time.Sleep(hold)
				on.Add(-1)
				inFlight.Add(-1)
				if err := k.Release(); err != nil {
					errs <- fmt.Errorf("Release: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return n.Load(), top.Load()
}
