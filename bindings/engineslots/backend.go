package engineslots

// backend is where a Table's engines and tickets live. Table does the Go
// side (the gate for Close, engine records and values, Sync's planning,
// Tickets) once, over any backend:
//
//   - cBackend (ffi.go, cgo builds): the C library, in this process's
//     memory (New) or in a shared file (OpenShared); also a Redis server
//     through the C library's client (openRedisC: kept for the C/Go
//     interop tests);
//   - goRedisBackend (remote_backend.go, every build): a remote table in a
//     Redis server (OpenRedis), pure Go; there reclaimExpired, ticketCounts
//     and snapshot, like every other method, can return ErrIO.
//
// Methods follow the C ABI's semantics and statuses one for one. The Table
// calls them only inside its gate, so free never runs under another call.
// The hot-path methods (reserve..releaseAsExternal) return the raw status so that the
// Table can test for statusOK before mapping anything.
type backend interface {
	// free releases the table; called once, by Close, with no call in flight.
	free()
	// shared reports whether other processes can change the table, so
	// that nothing this process remembers about it can be trusted alone.
	shared() bool

	addEngine(key string, spec *engineSpec) (Engine, error)
	addOrFind(key string, spec *engineSpec) (e Engine, created bool, err error)
	findEngine(key string) (Engine, error)
	setCapacity(e Engine, n uint32) error
	setHealthy(e Engine, healthy bool) error
	setPriority(e Engine, prio int32) error
	setExternal(e Engine, n uint32) error
	drain(e Engine) error
	undrain(e Engine) error
	remove(e Engine) error

	reserve() (st int32, ticket uint64, e Engine)
	reserveOn(e Engine) (st int32, ticket uint64)
	reserveOnKey(key string) (st int32, ticket uint64, e Engine)
	commit(ticket uint64) int32
	cancel(ticket uint64) int32
	release(ticket uint64) int32
	touch(ticket uint64) int32
	finish(ticket uint64) int32
	// releaseAsExternal is es_release_as_external: release the active
	// ticket and count its unit as external load on its engine until the
	// next setExternal on it, in one atomic step (Sync's ObservedTotals).
	releaseAsExternal(ticket uint64) int32

	reclaimExpired() (int, error)
	ticketCounts() (TicketCounts, error)
	engineStats(e Engine) (EngineStats, error)
	// snapshot returns every live engine; cachedKey(e) is e's key when the
	// Table knows it ("" otherwise), to save a copy.
	snapshot(cachedKey func(Engine) string) ([]EngineStats, error)
}

// engineSpec is the settings an engine is added with (es_engine_spec).
type engineSpec struct {
	capacity uint32 // 0: the table's DefaultCapacity
	priority int32
	external uint32
	healthy  bool
	draining bool
	user     uint64
}
