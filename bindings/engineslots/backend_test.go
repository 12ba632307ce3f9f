package engineslots

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Which backend the method tests run against. The tests of every Table
// and Ticket method take their table from newTable (helpers_test.go), which
// builds it on the backend ES_GO_TEST_BACKEND names:
//
//	local  an in-process table (New): the C library, so cgo builds only;
//	       the default with cgo
//	redis  a remote table (OpenRedis, pure Go) in one throw-away
//	       redis-server per test binary, a fresh table name per test; the
//	       default without cgo (CGO_ENABLED=0), where it is the only one
//
// run-tests.sh runs the suite once per backend. Tests about the C library
// itself (shared files, the finalizer, the library's defaults) are in
// cgo-only files and run in both cgo runs; tests about remote tables alone
// (redis_test.go, remote_*_test.go) start their own servers.
const (
	backendLocal = "local"
	backendRedis = "redis"
)

// testBackend is the backend of this run (set by TestMain).
var testBackend string

// children maps an environment variable to the child-process role it
// selects: tests that need other processes run this test binary again with
// the variable set (shared_test.go, proxy_remote_test.go).
var children = map[string]func(value string) int{}

func TestMain(m *testing.M) {
	for env, run := range children {
		if v := os.Getenv(env); v != "" {
			os.Exit(run(v))
		}
	}
	testBackend = os.Getenv("ES_GO_TEST_BACKEND")
	switch testBackend {
	case "":
		testBackend = backendLocal
		if !cgoBuild {
			testBackend = backendRedis
		}
	case backendLocal:
		if !cgoBuild {
			fmt.Fprintln(os.Stderr, "ES_GO_TEST_BACKEND=local needs cgo (the C library); this build has none")
			os.Exit(2)
		}
	case backendRedis:
	default:
		fmt.Fprintf(os.Stderr, "ES_GO_TEST_BACKEND=%q: want %q or %q\n", testBackend, backendLocal, backendRedis)
		os.Exit(2)
	}
	code := m.Run()
	binaryRedis.stop()
	os.Exit(code)
}

// remoteTests reports whether this run's tables are remote.
func remoteTests() bool { return testBackend == backendRedis }

// maxKeyLen is the longest key of this run's tables: the C library's
// ES_KEY_MAX, or the remote library's KEY_MAX.
func maxKeyLen() int {
	if remoteTests() {
		return luaKeyMax
	}
	return localKeyMax
}

// binaryRedis is the redis-server of this test binary's remote tables,
// started by the first test that needs it and stopped by TestMain.
var binaryRedis redisProc

type redisProc struct {
	once    sync.Once
	url     string
	err     error
	missing bool // redis-server is not on PATH
	stopFn  func()
	dir     string
}

func (r *redisProc) stop() {
	if r.stopFn != nil {
		r.stopFn()
	}
	if r.dir != "" {
		_ = os.RemoveAll(r.dir)
	}
}

// testRedisURL is the URL of the test binary's redis-server (started on
// first use). Like startRedis it skips when redis-server is not installed,
// unless ES_REQUIRE_REDIS=1.
func testRedisURL(t testing.TB) string {
	t.Helper()
	r := &binaryRedis
	r.once.Do(func() {
		r.dir, r.err = os.MkdirTemp("", "engineslots-redis-")
		if r.err != nil {
			return
		}
		r.url, r.stopFn, r.err = launchRedis(r.dir)
		r.missing = errors.Is(r.err, errNoRedisServer)
	})
	if r.missing {
		skipOrFailNoRedis(t, r.err)
	}
	if r.err != nil {
		t.Fatalf("redis-server for the remote tables: %v", r.err)
	}
	// A generous timeout (the tests run under -race, GOGC=1 and several
	// processes on small shared machines, and test admission, not
	// latency), and a session well above it, as docs/REMOTE.md advises.
	return r.url + "?timeout_ms=5000&session_ms=30000"
}

var tableSeq atomic.Int64

// remoteTableName is a fresh table name for a test (the name rule: 1 to 64
// printable ASCII bytes, no space and no braces).
func remoteTableName(t testing.TB) string {
	n := strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || r == '{' || r == '}' {
			return '_'
		}
		return r
	}, t.Name())
	name := fmt.Sprintf("t%d-%s", tableSeq.Add(1), n)
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

// remoteOf maps each remote test table to its URL and name (for a second
// Table on the same remote table, and for unlinking it).
var remoteOf sync.Map // *Table -> remoteTableRef

type remoteTableRef struct{ url, name string }

// openTestTable makes a table with cfg on this run's backend, closed (and,
// remote, deleted) when the test ends. Its error is New's or OpenRedis's.
func openTestTable(t testing.TB, cfg Config) (*Table, error) {
	t.Helper()
	if !remoteTests() {
		tb, err := New(cfg)
		if err == nil {
			t.Cleanup(func() { _ = tb.Close() })
		}
		return tb, err
	}
	url, name := testRedisURL(t), remoteTableName(t)
	tb, err := OpenRedis(url, name, &cfg)
	if err != nil {
		return nil, err
	}
	remoteOf.Store(tb, remoteTableRef{url, name})
	t.Cleanup(func() {
		_ = tb.Close()
		remoteOf.Delete(tb)
		if err := UnlinkRedis(url, name); err != nil && !errors.Is(err, ErrNotFound) {
			t.Errorf("UnlinkRedis(%s): %v", name, err)
		}
	})
	return tb, nil
}

// otherTable opens a second Table on the same remote table as tb (another
// process's view of it: its own records, values and session), closed when
// the test ends.
func otherTable(t testing.TB, tb *Table) *Table {
	t.Helper()
	r, ok := remoteOf.Load(tb)
	if !ok {
		t.Fatal("otherTable: not a remote test table")
	}
	ref := r.(remoteTableRef)
	o, err := OpenRedis(ref.url, ref.name, nil)
	if err != nil {
		t.Fatalf("OpenRedis(%s, nil): %v", ref.name, err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}
