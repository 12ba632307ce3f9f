//go:build cgo

package engineslots

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// This build links the C library: in-process tables exist (backend_test.go).
const cgoBuild = true

// localKeyMax is the C library's ES_KEY_MAX (backend_test.go's maxKeyLen).
const localKeyMax = keyMax

func TestVersion(t *testing.T) {
	if Version() == "" {
		t.Error("empty Version")
	}
}

// A table that is dropped without Close is freed by its finalizer.
func TestFinalizerFallback(t *testing.T) {
	// The real finalizer (Close) runs on the dropped tables of this loop...
	for i := 0; i < 4; i++ {
		tb, err := New(Config{MaxEngines: 1, MaxTickets: 1, DefaultCapacity: 1})
		wantErr(t, "New", err, nil)
		mustAdd(t, tb, "x", 1)
	}
	// ...and these count that Close works from the finalizer goroutine.
	var freed atomic.Int32
	for i := 0; i < 4; i++ {
		tb, err := New(Config{MaxEngines: 1, MaxTickets: 1, DefaultCapacity: 1})
		wantErr(t, "New", err, nil)
		mustAdd(t, tb, "x", 1)
		runtime.SetFinalizer(tb, nil) // replace the fallback with a counting one
		runtime.SetFinalizer(tb, func(tb *Table) {
			if tb.Close() == nil {
				freed.Add(1)
			}
		})
	}
	for i := 0; i < 50 && freed.Load() < 4; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if freed.Load() == 0 {
		t.Fatal("no finalizer ran")
	}
}
