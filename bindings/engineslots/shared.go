package engineslots

// OpenShared opens the shared table stored in the file at path, creating
// it (mode 0600) if it does not exist. Several processes (Go, C, C++ or
// Rust) that open the same file share one table: every guarantee holds
// across them, without a lock. Without cgo (CGO_ENABLED=0) it returns
// ErrNoCgo.
//
// Creating needs cfg (validated: ErrInvalid). Opening takes the file's own
// config when cfg is nil, and gives ErrInvalid when cfg differs from it.
// Concurrent creators race safely. A file that is not a valid table is
// ErrCorrupt; a failed open, create or map is ErrIO (wrapping the errno);
// a missing file with a nil cfg is ErrIO too.
//
// A ticket records the process holding it: when a process dies, even by
// SIGKILL, ReclaimExpired (and a Reserve that finds no room) gives its
// capacity back. Close unmaps the table; it never deletes the file (see
// UnlinkShared). Open the table in the process that uses it (after fork).
//
// What a Table keeps in Go (engine values, pins, Sync's memory of the last
// list) is this process's: other processes see the engines, not those.
func OpenShared(path string, cfg *Config) (*Table, error) {
	b, own, err := openShared(path, cfg)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		own = *cfg // the caller's durations, not their millisecond rounding
	}
	return tableOver(b, own), nil
}

// UnlinkShared deletes the file of a shared table. Processes that have it
// open keep using it until they Close it.
func UnlinkShared(path string) error {
	return unlinkShared(path)
}
