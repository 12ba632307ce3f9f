//go:build !cgo

package engineslots

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// Built without cgo (CGO_ENABLED=0, as many Go Dockerfiles set): the package
// builds, and the tables that need the C library say so, and where to read
// how to get it.
func TestNoCgo(t *testing.T) {
	tb, err := New(DefaultConfig())
	if tb != nil || !errors.Is(err, ErrNoCgo) {
		t.Fatalf("New: %v, %v", tb, err)
	}
	for _, want := range []string{"cgo", "CGO_ENABLED", "C library", `"Use from Go"`, "#use-from-go"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	path := filepath.Join(t.TempDir(), "table")
	if _, err := OpenShared(path, nil); !errors.Is(err, ErrNoCgo) {
		t.Fatalf("OpenShared: %v", err)
	}
	if err := UnlinkShared(path); !errors.Is(err, ErrNoCgo) {
		t.Fatalf("UnlinkShared: %v", err)
	}
	// Remote tables: the pure-Go client is not there yet, and it says so.
	if tb, err := OpenRedis("redis://127.0.0.1:6379", "t", nil); tb != nil || !errors.Is(err, ErrNoCgo) {
		t.Fatalf("OpenRedis: %v, %v", tb, err)
	} else {
		for _, want := range []string{"pure-Go", "not available yet", "cgo"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("OpenRedis error %q does not mention %s", err, want)
			}
		}
	}
	if err := UnlinkRedis("redis://127.0.0.1:6379", "t"); !errors.Is(err, ErrNoCgo) {
		t.Fatalf("UnlinkRedis: %v", err)
	}
	if Version() != "" {
		t.Fatalf("Version %q without a library", Version())
	}
	// The one copy of the defaults (checked against es_config_default by
	// TestDefaultConfigIsTheLibrarys in cgo builds).
	if DefaultConfig() != pureGoDefaults {
		t.Fatalf("DefaultConfig %+v", DefaultConfig())
	}
}
