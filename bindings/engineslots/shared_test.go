//go:build cgo

package engineslots

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The child processes of the shared-table tests: the test binary runs
// itself with ES_GO_SHARED_ROLE set (TestMain, backend_test.go).
func init() {
	children["ES_GO_SHARED_ROLE"] = func(role string) int {
		if role == "holder" {
			return sharedHolder(os.Getenv("ES_GO_SHARED_PATH"))
		}
		return 3
	}
}

// sharedHolder opens the table, takes two slots (one committed), reports
// what it saw, and dies without giving anything back.
func sharedHolder(path string) int {
	t, err := OpenShared(path, nil)
	if err != nil {
		println("open:", err.Error())
		return 1
	}
	a, err := t.Reserve()
	if err != nil {
		return 1
	}
	if _, err := t.Reserve(); err != nil {
		return 1
	}
	if err := a.Commit(); err != nil {
		return 1
	}
	os.Stdout.WriteString("READY " + a.Key() + "\n")
	time.Sleep(time.Minute) // killed by the parent
	return 0
}

func TestOpenSharedTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "go.table")
	cfg := Config{MaxEngines: 4, MaxTickets: 16, DefaultCapacity: 3, PendingLease: time.Minute}
	tb, err := OpenShared(path, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	e, err := tb.AddEngine("shared-engine", 0)
	if err != nil {
		t.Fatal(err)
	}

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "ES_GO_SHARED_ROLE=holder", "ES_GO_SHARED_PATH="+path)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if got := strings.TrimSpace(line); got != "READY shared-engine" {
		t.Fatalf("child said %q", got)
	}
	st := statsOf(t, tb, e)
	if st.Active != 1 || st.Pending != 1 {
		t.Fatalf("the child's slots are not visible here: %+v", st)
	}
	mine, err := tb.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Reserve(); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("over capacity across processes: %v", err)
	}
	if err := child.Process.Kill(); err != nil { // SIGKILL: no cleanup
		t.Fatal(err)
	}
	_ = child.Wait()
	if n := tb.ReclaimExpired(); n != 2 {
		t.Fatalf("reclaimed %d of the dead child's 2 tickets", n)
	}
	st = statsOf(t, tb, e)
	if st.Active != 0 || st.Pending != 1 {
		t.Fatalf("after reclaim: %+v", st)
	}
	if err := mine.Cancel(); err != nil {
		t.Fatal(err)
	}

	// A second opener with the file's own config, and with a wrong one.
	again, err := OpenShared(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Config().MaxTickets != 16 || again.Config().PendingLease != time.Minute {
		t.Fatalf("config from the file: %+v", again.Config())
	}
	if got := again.Stats(); len(got) != 1 || got[0].Key != "shared-engine" {
		t.Fatalf("stats from the second opener: %+v", got)
	}
	again.Close()
	bad := cfg
	bad.MaxTickets = 17
	if _, err := OpenShared(path, &bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mismatched config: %v", err)
	}
	if err := UnlinkShared(path); err != nil {
		t.Fatal(err)
	}
}

func TestOpenSharedErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenShared(filepath.Join(dir, "missing"), nil); !errors.Is(err, ErrIO) {
		t.Fatalf("missing file: %v", err)
	}
	if err := UnlinkShared(filepath.Join(dir, "missing")); !errors.Is(err, ErrIO) {
		t.Fatalf("unlink missing: %v", err)
	}
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a table ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenShared(junk, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("junk file: %v", err)
	}
	if _, err := OpenShared(filepath.Join(dir, "x"), &Config{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero config: %v", err)
	}
}

// Two Tables over one shared file (as two processes would have): engines,
// keys and counts are shared; values and pins are each Table's own; the
// records of engines the other Table removed are dropped by Sync.
func TestSharedTableGoSide(t *testing.T) {
	path := filepath.Join(t.TempDir(), "go-side.table")
	cfg := Config{MaxEngines: 4, MaxTickets: 16, DefaultCapacity: 2}
	a, err := OpenShared(path, &cfg)
	wantErr(t, "OpenShared a", err, nil)
	defer a.Close()
	b, err := OpenShared(path, nil)
	wantErr(t, "OpenShared b", err, nil)
	defer b.Close()

	e, err := a.AddEngineWith(EngineInfo{Key: "x", Value: "a's value"})
	wantErr(t, "AddEngineWith", err, nil)
	k, err := b.ReserveKey("x")
	wantErr(t, "ReserveKey in b", err, nil)
	if k.Key() != "x" || k.Value() != nil {
		t.Fatalf("b's ticket: %q %v (values are per Table)", k.Key(), k.Value())
	}
	wantErr(t, "SetValue in b", b.SetValue(e, "b's value"), nil)
	if k2, _ := a.ReserveKey("x"); k2 == nil || k2.Value() != "a's value" {
		t.Fatalf("a's value changed by b")
	} else {
		wantErr(t, "Finish", k2.Finish(), nil)
	}
	wantErr(t, "Finish", k.Finish(), nil)

	// a removes x; b's Sync (which adds y) drops b's record of x.
	wantErr(t, "Remove in a", a.Remove(e), nil)
	wantErr(t, "Sync in b", b.Sync([]EngineInfo{{Key: "y"}}), nil)
	if _, ok := b.recs.Load(e); ok {
		t.Fatal("b kept the record of an engine a removed")
	}
	// A shared table's Sync always reads the table: a's changes are seen.
	y, err := a.FindEngine("y")
	wantErr(t, "FindEngine y in a", err, nil)
	wantErr(t, "SetCapacity in a", a.SetCapacity(y, 1), nil)
	wantErr(t, "Sync in b again", b.Sync([]EngineInfo{{Key: "y"}}), nil)
	if s, _ := a.EngineStats(y); s.Capacity != 2 {
		t.Fatalf("b's Sync did not restore y: %+v", s)
	}
}
