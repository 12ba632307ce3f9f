//go:build cgo

package engineslots

import (
	"os"
	"path/filepath"
	"testing"
)

// The defaults come from the C library (es_config_default); the package's
// one copy of them, for builds without cgo, must equal it.
func TestDefaultConfigIsTheLibrarys(t *testing.T) {
	if got := DefaultConfig(); got != pureGoDefaults {
		t.Fatalf("es_config_default is %+v, the Go copy for CGO_ENABLED=0 is %+v", got, pureGoDefaults)
	}
	// Room for a real deployment: hundreds of engines, thousands of streams.
	if c := DefaultConfig(); c.MaxEngines < 500 || c.MaxTickets < 5000 || c.PendingLease == 0 {
		t.Fatalf("DefaultConfig %+v is too small for a deployment", c)
	}
}

// DefaultConfig's documented memory: the table is one block, the same in
// memory and in a shared file, so the file's size is it.
func TestDefaultConfigMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "default.table")
	cfg := DefaultConfig()
	tb, err := OpenShared(path, &cfg)
	wantErr(t, "OpenShared", err, nil)
	defer tb.Close()
	fi, err := os.Stat(path)
	wantErr(t, "Stat", err, nil)
	const documented = 1.4 * (1 << 20) // config.go: "about 1.4 MiB"
	size := float64(fi.Size())
	t.Logf("a DefaultConfig table: %d bytes (%.2f MiB)", fi.Size(), size/(1<<20))
	if size > documented*1.1 || size < documented*0.8 {
		t.Fatalf("a DefaultConfig table takes %.2f MiB; DefaultConfig says about 1.4", size/(1<<20))
	}
}
