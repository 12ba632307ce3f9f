//go:build !cgo

package engineslots

// Without cgo there is no C library: in-process and shared tables are not
// available, and say so. Everything else (the types, Sync's planning, the
// Table over a backend, remote tables through the pure-Go client) builds.

// defaultConfig is the copy of the C library's defaults (pureGoDefaults).
func defaultConfig() Config { return pureGoDefaults }

// Version is the version of the linked C library: "" in a build without
// cgo, which links none.
func Version() string { return "" }

func newLocal(Config) (backend, error) { return nil, ErrNoCgo }

func openShared(string, *Config) (backend, Config, error) { return nil, Config{}, ErrNoCgo }

func unlinkShared(string) error { return ErrNoCgo }
