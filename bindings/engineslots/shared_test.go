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
