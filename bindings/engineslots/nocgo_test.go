//go:build !cgo

package engineslots

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// No C library in this build: the method tests run on remote tables only
// (backend_test.go).
const cgoBuild = false

// localKeyMax would be the C library's ES_KEY_MAX; no local tables here.
const localKeyMax = 0

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
	// Remote tables are pure Go: a malformed URL is ErrInvalid, not ErrNoCgo
	// (redis_test.go runs them against a real server in this build too).
	if _, err := OpenRedis("http://x", "t", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("OpenRedis: %v", err)
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
