package engineslots

import (
	"errors"
	"fmt"
)

// Sentinel errors; compare with errors.Is. Each maps one es_status.
var (
	// ErrNoCapacity: no engine has room (ES_NO_CAPACITY); an answer, not a
	// fault: a proxy replies "busy".
	ErrNoCapacity = errors.New("engineslots: no engine has room")
	// ErrInvalid: an argument is out of range (ES_ERR_INVALID): key length,
	// capacity, count, duration, priority or configuration.
	ErrInvalid = errors.New("engineslots: invalid argument")
	// ErrTableFull: no free engine slot or ticket slot (ES_ERR_TABLE_FULL).
	ErrTableFull = errors.New("engineslots: no free engine or ticket slot")
	// ErrExists: the key is already registered (ES_ERR_EXISTS).
	ErrExists = errors.New("engineslots: engine key already registered")
	// ErrNotFound: no engine has that key (ES_ERR_NOT_FOUND).
	ErrNotFound = errors.New("engineslots: no engine with that key")
	// ErrStale: the engine or ticket is not live (ES_ERR_STALE): removed,
	// finished, expired, from another table, or the zero value.
	ErrStale = errors.New("engineslots: stale handle")
	// ErrClosed: the Table was closed.
	ErrClosed = errors.New("engineslots: table closed")
	// ErrIO: opening, creating or mapping a shared table failed, or a
	// remote table's server did not answer (ES_ERR_IO). A call on a remote
	// table that returned ErrIO may or may not have taken effect.
	ErrIO = errors.New("engineslots: shared table I/O error")
	// ErrCorrupt: a shared table file is not a valid table (ES_ERR_CORRUPT).
	ErrCorrupt = errors.New("engineslots: shared table file is corrupt")
	// ErrInternal: a bug, in the C library (ES_ERR_INTERNAL: a panic caught
	// at its boundary) or in this binding (a status it never expects).
	ErrInternal = errors.New("engineslots: internal error")
	// ErrNoCgo: New and OpenShared in a program built without cgo
	// (CGO_ENABLED=0). In-process and shared tables live in the C library.
	// Remote tables (OpenRedis) are pure Go and work without cgo.
	ErrNoCgo = errors.New("engineslots: in-process and shared tables need cgo and the " +
		"engine_slots C library, but this program was built with CGO_ENABLED=0; " +
		"install the library and build with CGO_ENABLED=1: see \"Use from Go\" in " +
		"https://github.com/engine-slots/engine-slots#use-from-go")
)

// The es_status values of the C ABI (include/engine_slots.h). They are
// written here so that the package builds without cgo; ffi.go checks at
// compile time that each equals the header's.
const (
	statusOK         int32 = 0
	statusNoCapacity int32 = 1
	statusNull       int32 = -1
	statusInvalid    int32 = -2
	statusTableFull  int32 = -3
	statusExists     int32 = -4
	statusNotFound   int32 = -5
	statusStale      int32 = -6
	statusIO         int32 = -7
	statusCorrupt    int32 = -8
	statusInternal   int32 = -100
)

// errNull is ES_ERR_NULL: this binding never passes NULL, so it is a bug.
var errNull = fmt.Errorf("%w: NULL argument passed to the C library", ErrInternal)

// statusErr maps an es_status to its sentinel; ES_OK is nil.
func statusErr(s int32) error {
	switch s {
	case statusOK:
		return nil
	case statusNoCapacity:
		return ErrNoCapacity
	case statusNull:
		return errNull
	case statusInvalid:
		return ErrInvalid
	case statusTableFull:
		return ErrTableFull
	case statusExists:
		return ErrExists
	case statusNotFound:
		return ErrNotFound
	case statusStale:
		return ErrStale
	case statusIO:
		return ErrIO
	case statusCorrupt:
		return ErrCorrupt
	case statusInternal:
		return ErrInternal
	}
	return fmt.Errorf("%w: unknown status %d", ErrInternal, s)
}
