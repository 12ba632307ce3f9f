package engineslots

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The confirmed mode's URL parameters, with the Rust client's rules
// (src/remote/url.rs, confirmed_mode).
func TestRemoteURLConfirm(t *testing.T) {
	good := []struct {
		url     string
		confirm int
		waitMs  int64
	}{
		{"redis://h?confirm=0", 0, 0},
		{"redis://h?confirm=1", 1, 500},
		{"redis://h?timeout_ms=200&confirm=2", 2, 100},
		{"redis://h?timeout_ms=1&confirm=2", 2, 1},
		{"redis://h?confirm_ms=50&confirm=16", 16, 50},
		{"redis://h?confirm=1&confirm_ms=1000", 1, 1000},
		{"redis+sentinel://a,b/m/1?confirm=1&timeout_ms=3000&confirm_ms=2500", 1, 2500},
		{"redis://h?confirm_ms=7", 0, 0},
	}
	for _, g := range good {
		u, err := parseRedisURL(g.url)
		if err != nil {
			t.Fatalf("%q: %v", g.url, err)
		}
		if u.confirm != g.confirm || u.confirmWait.Milliseconds() != g.waitMs {
			t.Errorf("%q: confirm %d wait %v, want %d %d ms", g.url, u.confirm, u.confirmWait, g.confirm, g.waitMs)
		}
	}
	for _, bad := range []string{
		"redis://h?confirm=17",
		"redis://h?confirm=-1",
		"redis://h?confirm=x",
		"redis://h?confirm=",
		"redis://h?confirm=1&confirm_ms=0",
		"redis://h?confirm=1&confirm_ms=1001",
		"redis://h?timeout_ms=100&confirm=1&confirm_ms=101",
		"redis://h?confirm_ms=101&timeout_ms=100",
	} {
		if _, err := parseRedisURL(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad, err)
		}
	}
}

// confirmServer is a redis-server of this file's tests: extra arguments,
// stopped (and resumed first, if paused) when the test ends.
type confirmServer struct {
	cmd  *exec.Cmd
	port int
	url  string
}

func startConfirmServer(t *testing.T, extra ...string) *confirmServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("ES_REQUIRE_REDIS") == "1" {
			t.Fatalf("ES_REQUIRE_REDIS=1 but redis-server is not on PATH: %v", err)
		}
		t.Skip("redis-server not on PATH")
	}
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", t.TempDir(),
			"--daemonize", "no", "--loglevel", "warning"}, extra...)
		cmd := exec.Command(bin, args...)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill()
			<-exited
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			select {
			case <-exited:
				goto retry
			default:
			}
			if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
				_ = c.Close()
				t.Cleanup(stop)
				return &confirmServer{cmd: cmd, port: port, url: "redis://" + addr}
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		t.Fatalf("redis-server on %s did not come up", addr)
	retry:
	}
	t.Fatalf("redis-server: no free port")
	return nil
}

// A primary and one replica: with ?confirm=1 reservations and commits
// succeed while the replica acknowledges, fail with ErrIO (ENOLINK) within
// confirm_ms when it does not (the unconfirmed reservation cancelled on the
// primary at once), and succeed again once it is back.
func TestRedisConfirmedMode(t *testing.T) {
	p := startConfirmServer(t, "--repl-diskless-sync-delay", "0")
	r := startConfirmServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(p.port))
	raw := rawRedis(t, r.url)
	eventually(t, 30*time.Second, "replica in sync", func() bool {
		info, err := raw.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	cfg := redisConfig()
	plain := openRedisT(t, p.url, "confirm", &cfg)
	// Writes that must be confirmed may wait 8 s (WAIT returns as soon as
	// the replica acknowledges, so this costs a healthy pair nothing and a
	// loaded machine no false failure); those that must not, 200 ms.
	patient := openRedisT(t, p.url+"?timeout_ms=10000&confirm=1&confirm_ms=8000", "confirm", nil)
	tb := openRedisT(t, p.url+"?confirm=1&confirm_ms=200", "confirm", nil)
	e := mustAdd(t, plain, "e", 4)

	k := mustReserve(t, patient)
	if err := k.Commit(); err != nil {
		t.Fatalf("confirmed commit: %v", err)
	}
	if err := k.Release(); err != nil {
		t.Fatalf("release: %v", err)
	}

	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := tb.Reserve()
	wantErr(t, "unconfirmed reserve", err, ErrIO)
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("WAIT returned after %v, want about 200ms", waited)
	}
	pending := mustReserve(t, plain)
	// The same ticket through the confirmed handle: the commit happens on
	// the primary, but no replica confirms it.
	if st := tb.b.commit(pending.id); st != statusIO {
		t.Errorf("unconfirmed commit: status %d, want ES_ERR_IO", st)
	}
	s := statsOf(t, plain, e)
	if s.Pending != 0 || s.Active != 1 {
		t.Errorf("pending %d active %d, want 0 1 (the unconfirmed reservation cancelled)", s.Pending, s.Active)
	}

	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "replica back", func() bool {
		info, err := raw.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	k = mustReserve(t, patient)
	if err := k.Commit(); err != nil {
		t.Fatalf("commit after the replica came back: %v", err)
	}
	if err := k.Release(); err != nil {
		t.Fatalf("release: %v", err)
	}
}

// min-replicas-to-write: the server refuses every write (NOREPLICAS) while
// too few replicas are connected: ErrIO (ENOLINK), nothing written.
func TestRedisNoReplicasIsENOLINK(t *testing.T) {
	p := startConfirmServer(t)
	cfg := redisConfig()
	tb := openRedisT(t, p.url, "noreplicas", &cfg)
	e := mustAdd(t, tb, "e", 2)
	raw := rawRedis(t, p.url)
	if err := raw.ConfigSet(context.Background(), "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	_, err := tb.Reserve()
	wantErr(t, "reserve", err, ErrIO)
	err = tb.SetCapacity(e, 3)
	if !errors.Is(err, ErrIO) || !errors.Is(err, syscall.ENOLINK) {
		t.Fatalf("SetCapacity: %v, want ErrIO and ENOLINK", err)
	}
	s := statsOf(t, tb, e)
	if s.Capacity != 2 || s.Pending != 0 || s.ReservedTotal != 0 {
		t.Fatalf("stats %+v: something was written", s)
	}
}

// startConfirmSentinel starts a Sentinel (quorum 1, down after 1 s) that
// monitors the primary on port as "mymaster"; stopped when the test ends.
func startConfirmSentinel(t *testing.T, primary int) *confirmServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not on PATH")
	}
	dir := t.TempDir()
	conf := dir + "/sentinel.conf"
	body := "sentinel monitor mymaster 127.0.0.1 " + strconv.Itoa(primary) + " 1\n" +
		"sentinel down-after-milliseconds mymaster 1000\n" +
		"sentinel failover-timeout mymaster 10000\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(bin, conf, "--sentinel", "--port", strconv.Itoa(port),
		"--bind", "127.0.0.1", "--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	eventually(t, 10*time.Second, "Sentinel up", func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	return &confirmServer{cmd: cmd, port: port, url: "redis://" + addr}
}

// The Go client in the confirmed mode through Sentinel, the primary
// SIGKILLed under load: it follows the promoted replica, no confirmed
// commit is lost (its release never answers ErrStale), and admissions
// resume.
func TestRedisConfirmedFailover(t *testing.T) {
	p := startConfirmServer(t, "--repl-diskless-sync-delay", "0")
	var replicas []*confirmServer
	for i := 0; i < 2; i++ {
		replicas = append(replicas, startConfirmServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(p.port)))
	}
	for _, r := range replicas {
		raw := rawRedis(t, r.url)
		eventually(t, 30*time.Second, "replica in sync", func() bool {
			info, err := raw.Info(context.Background(), "replication").Result()
			return err == nil && strings.Contains(info, "master_link_status:up")
		})
	}
	s := startConfirmSentinel(t, p.port)
	sraw := rawRedis(t, s.url)
	eventually(t, 30*time.Second, "Sentinel knows both replicas", func() bool {
		v, err := sraw.Do(context.Background(), "SENTINEL", "replicas", "mymaster").Slice()
		return err == nil && len(v) == 2
	})
	url := "redis+sentinel://" + strings.TrimPrefix(s.url, "redis://") +
		"/mymaster?timeout_ms=2000&confirm=1&session_ms=60000"
	cfg := Config{MaxEngines: 4, MaxTickets: 64, DefaultCapacity: 2, Policy: LeastLoaded,
		PendingLease: 8 * time.Second, ActiveLease: 8 * time.Second}
	tb := openRedisT(t, url, "gofailover", &cfg)
	mustAdd(t, tb, "e", 2)

	var admitted, stale atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
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
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if err := k.Commit(); err != nil {
					_ = k.Finish()
					continue
				}
				admitted.Add(1)
				if err := k.Release(); errors.Is(err, ErrStale) {
					stale.Add(1)
				}
			}
		}()
	}
	eventually(t, 30*time.Second, "admissions before the kill", func() bool { return admitted.Load() > 50 })
	_ = p.cmd.Process.Kill()
	before := admitted.Load()
	eventually(t, 60*time.Second, "admissions on the new primary", func() bool {
		return admitted.Load() > before+50
	})
	close(stop)
	wg.Wait()
	if stale.Load() != 0 {
		t.Fatalf("%d confirmed commits were lost (release answered ErrStale)", stale.Load())
	}
}
