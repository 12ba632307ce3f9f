//go:build !cgo

package engineslots

import "fmt"

// Without cgo there is no C library: in-process, shared and (until the
// pure-Go remote client exists) remote tables are not available, and say so. Everything else (the types, Sync's planning, the
// Table over a backend) builds, so that a pure-Go backend can plug in.

// defaultConfig is the copy of the C library's defaults (pureGoDefaults).
func defaultConfig() Config { return pureGoDefaults }

// Version is the version of the linked C library: "" in a build without
// cgo, which links none.
func Version() string { return "" }

func newLocal(Config) (backend, error) { return nil, ErrNoCgo }

func openShared(string, *Config) (backend, Config, error) { return nil, Config{}, ErrNoCgo }

func unlinkShared(string) error { return ErrNoCgo }

// errNoRemote is OpenRedis and UnlinkRedis without cgo: the pure-Go client
// for remote tables is not written yet; today they go through the C library.
var errNoRemote = fmt.Errorf("engineslots: remote (Redis) tables: the pure-Go remote client "+
	"is not available yet in this version, so OpenRedis and UnlinkRedis need cgo too: %w", ErrNoCgo)

func openRedis(string, string, *Config) (backend, Config, error) {
	return nil, Config{}, errNoRemote
}

func unlinkRedis(string, string) error { return errNoRemote }
