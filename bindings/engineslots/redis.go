package engineslots

// OpenRedis opens the remote table named name kept in the Redis server
// (7.0 or later) at url, creating it if it does not exist. url is
// redis://[user:password@]host:port[/db], rediss://... (TLS) or
// redis+sentinel://host:port[,host:port...]/master-name[/db], with
// ?timeout_ms=N (default 1000: the longest any one call waits),
// ?session_ms=N, ?confirm=N and ?confirm_ms=M (the confirmed mode, below)
// and, on rediss://, ?tls_ca=PATH (docs/REMOTE.md). Every
// process (Go, C, C++ or Rust) that opens the same name on the same server
// shares one table, with every guarantee of a local table.
//
// Creating needs cfg (validated: ErrInvalid). Opening takes the table's own
// config when cfg is nil (ErrNotFound if there is no such table), and gives
// ErrInvalid when cfg differs from it. A malformed url or name is
// ErrInvalid; a server that does not answer, refuses or rejects the
// credentials is ErrIO (wrapping the errno); keys that hold something else
// are ErrCorrupt.
//
// Each call is one round trip. A call the server did not answer returns
// ErrIO and may or may not have taken effect (a reservation that did is
// reclaimed by its pending lease); ReclaimExpired then returns 0 and Stats
// nil, and Snapshot returns the error. Close closes the connections; it
// never deletes the table (see UnlinkRedis).
//
// Replication is asynchronous: a primary may acknowledge a write and die
// before a replica has it. With ?confirm=N every reservation and commit is
// sent with WAIT N in the same round trip; one that fewer than N replicas
// confirmed within confirm_ms returns ErrIO (wrapping ENOLINK) and is never
// used (an unconfirmed reservation is cancelled at once, or reclaimed by
// its pending lease), so no confirmed admission is lost in a failover to a
// replica that had it. Handles the new primary never saw are ErrStale,
// never issued twice. docs/REMOTE.md says what to configure (replicas,
// min-replicas-to-write, Sentinel) and what holds with and without it.
//
// Remote tables are pure Go (a client of the server-side library
// redis/engine_slots.lua over github.com/redis/go-redis/v9), in builds with
// and without cgo: no call blocks an OS thread in C, and a program built
// with CGO_ENABLED=0 uses them too. C, C++ and Rust processes (the Rust
// client behind es_table_open_redis) share the same tables.
func OpenRedis(url, name string, cfg *Config) (*Table, error) {
	b, own, err := openGoRedis(url, name, cfg)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		own = *cfg // the caller's durations, not their millisecond rounding
	}
	return tableOver(b, own), nil
}

// UnlinkRedis deletes the remote table name from the server at url (url
// and name as for OpenRedis); ErrNotFound if there is none. Tables still
// open on it create it again, empty, at their next call; every Engine and
// Ticket from before is stale there.
func UnlinkRedis(url, name string) error {
	return unlinkGoRedis(url, name)
}
