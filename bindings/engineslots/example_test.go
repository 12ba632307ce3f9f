//go:build cgo

package engineslots_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/engine-slots/engine-slots/bindings/engineslots"
)

// handle is one client request in a proxy: reserve a slot, start the
// stream on the engine the table picked (start stands in for the call to
// the engine), commit it once it runs, and give the slot back when the
// client leaves (when during returns). The deferred Finish cancels the
// ticket on every early return and releases it at the end, so no path can
// leak the slot.
func handle(tb *engineslots.Table, start func(addr string) error, during func()) error {
	tk, err := tb.Reserve()
	if errors.Is(err, engineslots.ErrNoCapacity) {
		return errors.New("503: every engine is busy")
	}
	if err != nil {
		return err
	}
	defer tk.Finish()

	if err := start(tk.Key()); err != nil {
		return fmt.Errorf("502 from %s: %w", tk.Key(), err) // Finish cancels
	}
	// The engine counts the stream from now on. ErrStale here means the
	// pending lease ran out first: the slot may be someone else's now, so
	// abort the stream.
	if err := tk.Commit(); err != nil {
		return err
	}
	fmt.Println("streaming on", tk.Key())
	during()   // the stream runs until the client goes
	return nil // Finish releases
}

// The whole proxy flow: refresh the engines from the orchestrator, then
// serve requests.
func Example() {
	tb, err := engineslots.New(engineslots.Config{
		MaxEngines:      64,
		MaxTickets:      4096,
		DefaultCapacity: 1,
		PendingLease:    5 * time.Second, // a forgotten reservation comes back after 5 s
		Policy:          engineslots.LeastLoaded,
	})
	if err != nil {
		panic(err)
	}
	defer tb.Close()

	// Every refresh hands the orchestrator's full list to Sync. engine-a
	// wins ties on load (without priorities, any of the equally loaded
	// engines may be picked).
	if err := tb.Sync([]engineslots.EngineInfo{
		{Key: "engine-a", Priority: 1},
		{Key: "engine-b"},
	}); err != nil {
		fmt.Println("sync:", err)
	}

	ok := func(string) error { return nil }
	refused := func(string) error { return errors.New("connection refused") }
	// Client 1 streams on engine-a; meanwhile client 2's stream fails to
	// start on engine-b, client 3 gets engine-b and streams, and client 4
	// finds every engine busy.
	err = handle(tb, ok, func() {
		fmt.Println(handle(tb, refused, func() {}))
		fmt.Println(handle(tb, ok, func() {
			fmt.Println(handle(tb, ok, func() {}))
		}))
	})
	fmt.Println(err)

	for _, s := range tb.Stats() {
		fmt.Printf("%s: active %d, pending %d, reserved %d\n", s.Key, s.Active, s.Pending, s.ReservedTotal)
	}
	// Output:
	// streaming on engine-a
	// 502 from engine-b: connection refused
	// streaming on engine-b
	// 503: every engine is busy
	// <nil>
	// <nil>
	// engine-a: active 0, pending 0, reserved 1
	// engine-b: active 0, pending 0, reserved 2
}

// Finish in a defer ends a ticket whatever happened to it.
func ExampleTicket_Finish() {
	tb, _ := engineslots.New(engineslots.DefaultConfig())
	defer tb.Close()
	tb.AddEngine("engine-a", 1)

	serve := func(startOK bool) {
		tk, err := tb.Reserve()
		if err != nil {
			fmt.Println(err)
			return
		}
		defer tk.Finish() // Cancel if not committed, Release if committed
		if !startOK {
			return
		}
		tk.Commit()
	}
	serve(false)
	serve(true)
	c := tb.TicketCounts()
	fmt.Println("pending", c.Pending, "active", c.Active, "all free:", c.Free == tb.Config().MaxTickets)
	// Output:
	// pending 0 active 0 all free: true
}

// Sync drains an engine the orchestrator stopped listing, undrains it when
// it comes back, and removes it once it is drained and idle.
func ExampleTable_Sync() {
	tb, _ := engineslots.New(engineslots.DefaultConfig())
	defer tb.Close()
	show := func() {
		var line []string
		for _, s := range tb.Stats() {
			line = append(line, fmt.Sprintf("%s cap=%d healthy=%v draining=%v",
				s.Key, s.Capacity, s.Healthy, s.Draining))
		}
		fmt.Println(strings.Join(line, " | "))
	}
	a := engineslots.EngineInfo{Key: "a", Capacity: 2}
	b := engineslots.EngineInfo{Key: "b", Capacity: 4, Unhealthy: true}

	tb.Sync([]engineslots.EngineInfo{a, b})
	show()
	tb.Sync([]engineslots.EngineInfo{a}) // b went away: drained
	show()
	b.Unhealthy = false
	tb.Sync([]engineslots.EngineInfo{a, b}) // b is back: undrained, updated
	show()
	tb.Sync([]engineslots.EngineInfo{b}) // a went away: drained...
	tb.Sync([]engineslots.EngineInfo{b}) // ...and removed, being idle
	show()
	// Output:
	// a cap=2 healthy=true draining=false | b cap=4 healthy=false draining=false
	// a cap=2 healthy=true draining=false | b cap=4 healthy=false draining=true
	// a cap=2 healthy=true draining=false | b cap=4 healthy=true draining=false
	// b cap=4 healthy=true draining=false
}

// writeMetrics writes the table's stats in the Prometheus text format.
func writeMetrics(w io.Writer, tb *engineslots.Table) {
	fmt.Fprintln(w, "# TYPE engine_slots_capacity gauge")
	fmt.Fprintln(w, "# TYPE engine_slots_streams gauge")
	fmt.Fprintln(w, "# TYPE engine_slots_reserved_total counter")
	fmt.Fprintln(w, "# TYPE engine_slots_expired_total counter")
	for _, s := range tb.Stats() {
		l := fmt.Sprintf("engine=%q", s.Key)
		fmt.Fprintf(w, "engine_slots_capacity{%s} %d\n", l, s.Capacity)
		fmt.Fprintf(w, "engine_slots_streams{%s,state=\"active\"} %d\n", l, s.Active)
		fmt.Fprintf(w, "engine_slots_streams{%s,state=\"pending\"} %d\n", l, s.Pending)
		fmt.Fprintf(w, "engine_slots_streams{%s,state=\"external\"} %d\n", l, s.External)
		fmt.Fprintf(w, "engine_slots_reserved_total{%s} %d\n", l, s.ReservedTotal)
		fmt.Fprintf(w, "engine_slots_expired_total{%s} %d\n", l, s.ExpiredTotal)
	}
}

// Stats feeds a metrics loop. With the Prometheus client library, update
// gauges from a ticker (or implement prometheus.Collector and call Stats in
// Collect); ReclaimExpired on the same tick wins leaked slots back eagerly:
//
//	go func() {
//		for range time.Tick(10 * time.Second) {
//			tb.ReclaimExpired()
//			for _, s := range tb.Stats() {
//				active.WithLabelValues(s.Key).Set(float64(s.Active))
//				pending.WithLabelValues(s.Key).Set(float64(s.Pending))
//				...
//			}
//		}
//	}()
//
// Without dependencies, writeMetrics renders the text format directly:
func ExampleTable_Stats() {
	tb, _ := engineslots.New(engineslots.DefaultConfig())
	defer tb.Close()
	e, _ := tb.AddEngine("engine-a", 3)
	tb.SetExternal(e, 1)
	tk, _ := tb.Reserve()
	tk.Commit()
	tb.Reserve()

	tb.ReclaimExpired()
	writeMetrics(os.Stdout, tb)
	// Output:
	// # TYPE engine_slots_capacity gauge
	// # TYPE engine_slots_streams gauge
	// # TYPE engine_slots_reserved_total counter
	// # TYPE engine_slots_expired_total counter
	// engine_slots_capacity{engine="engine-a"} 3
	// engine_slots_streams{engine="engine-a",state="active"} 1
	// engine_slots_streams{engine="engine-a",state="pending"} 1
	// engine_slots_streams{engine="engine-a",state="external"} 1
	// engine_slots_reserved_total{engine="engine-a"} 2
	// engine_slots_expired_total{engine="engine-a"} 0
}
