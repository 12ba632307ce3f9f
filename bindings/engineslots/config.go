package engineslots

import (
	"fmt"
	"math"
	"time"
)

// Policy is how Reserve picks an engine among those with room.
type Policy int

const (
	// LeastLoaded (the default): healthy engines first, then the lowest
	// load relative to capacity, then the higher priority, then the engine
	// whose last reservation is oldest, then any of the engines still
	// equal (concurrent reservers are spread over them).
	LeastLoaded Policy = iota
	// FillFirst: the fullest engine that still has room, so idle engines
	// can be scaled down.
	FillFirst
	// TwoChoices: the less loaded of two random engines with room, in time
	// independent of the number of engines.
	TwoChoices
)

func (p Policy) String() string {
	switch p {
	case LeastLoaded:
		return "LeastLoaded"
	case FillFirst:
		return "FillFirst"
	case TwoChoices:
		return "TwoChoices"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Config is the fixed shape and behaviour of a Table, chosen by New.
//
// Every field is taken as given (a zero MaxEngines is ErrInvalid, not a
// default); DefaultConfig returns a sensible starting point.
type Config struct {
	// MaxEngines is the number of engine slots, 1 to 65535.
	// MaxTickets is the number of ticket slots (reservations plus live
	// streams), 1 to 1048576.
	// DefaultCapacity is the capacity AddEngine uses when given 0, 1 to 2047.
	MaxEngines, MaxTickets, DefaultCapacity int
	// PendingLease: a reservation not committed within it is reclaimed.
	// ActiveLease: a committed stream neither touched nor released within
	// it is reclaimed. 0 disables either; other values are rounded up to
	// whole milliseconds; negative or above math.MaxUint32 ms is ErrInvalid
	// (the library caps leases at about 24.8 days).
	PendingLease, ActiveLease time.Duration
	// Policy is how Reserve picks an engine.
	Policy Policy
}

// DefaultConfig is the C library's default configuration
// (es_config_default), sized so that a real deployment does not run into
// it: 1024 engines, 16384 tickets (reservations plus live streams),
// capacity 1, a 30 s pending lease, no active lease, LeastLoaded. Such a
// table takes about 1.4 MiB, allocated once by New (or mapped from the file,
// for OpenShared); the Go side adds a few hundred bytes per engine.
func DefaultConfig() Config { return defaultConfig() }

// pureGoDefaults is the one copy of the C library's es_config_default in
// Go, for builds without cgo (which cannot ask the library). A cgo test
// checks that it equals es_config_default; with cgo, DefaultConfig asks
// the library.
var pureGoDefaults = Config{
	MaxEngines:      1024,
	MaxTickets:      16384,
	DefaultCapacity: 1,
	PendingLease:    30 * time.Second,
	Policy:          LeastLoaded,
}

// toU32 converts a Go int argument to a C uint32_t, or reports that it does
// not fit (negative or above math.MaxUint32). The C side checks the range.
func toU32(n int) (uint32, bool) {
	if n < 0 || uint64(n) > math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}

// toMs converts a lease to whole milliseconds: 0 stays 0 (never expires),
// any other positive duration is rounded up (so 1ns is 1ms, not "never"),
// negative and above math.MaxUint32 ms are not representable.
func toMs(d time.Duration) (uint32, bool) {
	if d < 0 || d > math.MaxUint32*time.Millisecond {
		return 0, false
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return uint32(ms), true
}
