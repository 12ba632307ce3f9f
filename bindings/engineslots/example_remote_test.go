package engineslots_test

import (
	"errors"
	"log"
	"os"
	"time"

	"github.com/engine-slots/engine-slots/bindings/engineslots"
)

// A proxy with a remote table: several proxy processes (on any hosts, in
// Go, C, C++ or Rust) that open the same name on the same Redis server
// share one table, so no engine is ever admitted above its capacity
// whichever proxy admits. Pure Go: it builds and runs with CGO_ENABLED=0.
// (Not run by go test: it needs a server; adopt_test.sh builds this flow
// with CGO_ENABLED=0 and runs it against a throw-away redis-server.)
func ExampleOpenRedis() {
	cfg := engineslots.Config{
		MaxEngines:      1024,
		MaxTickets:      16384,
		DefaultCapacity: 2,
		PendingLease:    5 * time.Second, // a reservation never committed comes back
		ActiveLease:     time.Minute,     // a stream never touched or released comes back
	}
	// e.g. redis://user:password@redis:6379/0?timeout_ms=500, or
	// redis+sentinel://sentinel-1:26379,sentinel-2:26379/mymaster
	tb, err := engineslots.OpenRedis(os.Getenv("ENGINE_SLOTS_REDIS"), "proxy-streams", &cfg)
	if err != nil { // ErrInvalid (url, name, cfg), ErrIO (unreachable: wraps the errno)
		log.Fatal(err)
	}
	defer tb.Close()

	// Every proxy syncs the orchestrator's list; an engine another proxy
	// added a moment ago is found, not duplicated.
	if err := tb.Sync([]engineslots.EngineInfo{
		{Key: "engine-a", Capacity: 2, Value: "10.0.0.1:8080"},
		{Key: "engine-b", Capacity: 2, Value: "10.0.0.2:8080"},
	}); err != nil {
		log.Print(err)
	}

	// Per request, exactly as with an in-process table: one round trip each.
	k, err := tb.Reserve()
	if errors.Is(err, engineslots.ErrNoCapacity) {
		return // 503: every engine is busy, in every proxy's view
	}
	if errors.Is(err, engineslots.ErrIO) {
		return // the server did not answer: fail the request (or fail open)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer k.Finish() // cancel if never committed, release if committed
	addr := k.Value().(string)
	_ = addr // ... start the stream on addr ...
	if err := k.Commit(); err != nil {
		return
	}
	// ... serve; call k.Touch() within ActiveLease while the stream runs.
}
