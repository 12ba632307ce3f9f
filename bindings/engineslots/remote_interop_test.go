//go:build cgo

package engineslots

import (
	"errors"
	"testing"
	"time"
)

// openRedisCT opens name through the C library's client
// (es_table_open_redis, the Rust client behind the C ABI): a "C process"
// on the table, next to the pure-Go client OpenRedis uses.
func openRedisCT(t *testing.T, url, name string, cfg *Config) *Table {
	t.Helper()
	b, own, err := openRedisC(url, name, cfg)
	if err != nil {
		t.Fatalf("openRedisC(%q, %q): %v", url, name, err)
	}
	if cfg != nil {
		own = *cfg
	}
	tb := tableOver(b, own)
	t.Cleanup(func() { _ = tb.Close() })
	return tb
}

// A C client and a Go client on one remote table at the same time.
func TestRedisInteropCAndGo(t *testing.T) {
	url := startRedis(t)
	cfg := redisConfig()
	name := "go-interop"
	c := openRedisCT(t, url, name, &cfg) // the C client creates it (and loads the library)
	g := openRedisT(t, url, name, nil)   // the Go client takes its config
	if g.Config() != c.Config() {
		t.Fatalf("Go sees config %+v, C %+v", g.Config(), c.Config())
	}
	if _, ok := g.b.(*goRedisBackend); !ok {
		t.Fatalf("OpenRedis backend is %T, want the pure-Go client", g.b)
	}
	if _, ok := c.b.(*cBackend); !ok {
		t.Fatalf("openRedisC backend is %T", c.b)
	}

	// Engines and handles are one set: the same 64-bit values on both sides.
	eC := mustAdd(t, c, "from-c", 3)
	eG := mustAdd(t, g, "from-go", 2)
	if f, err := g.FindEngine("from-c"); err != nil || f != eC {
		t.Fatalf("Go FindEngine(from-c) = %v, %v; C added %v", f, err, eC)
	}
	if f, err := c.FindEngine("from-go"); err != nil || f != eG {
		t.Fatalf("C FindEngine(from-go) = %v, %v; Go added %v", f, err, eG)
	}
	if _, err := c.AddEngine("from-go", 1); !errors.Is(err, ErrExists) {
		t.Fatalf("C adds Go's key: %v", err)
	}

	// A ticket reserved by one side is committed/released by the other.
	kG := mustReserve(t, g)
	if st := c.b.commit(kG.id); st != statusOK {
		t.Fatalf("C commits Go's ticket: %v", statusErr(st))
	}
	if st := c.b.touch(kG.id); st != statusOK {
		t.Fatalf("C touches Go's ticket: %v", statusErr(st))
	}
	if st := c.b.release(kG.id); st != statusOK {
		t.Fatalf("C releases Go's ticket: %v", statusErr(st))
	}
	if err := kG.Release(); !errors.Is(err, ErrStale) { // finished on the other side
		t.Fatalf("Go releases a ticket C released: %v", err)
	}
	kC := mustReserve(t, c)
	if err := kC.Commit(); err != nil {
		t.Fatal(err)
	}
	if st := g.b.release(kC.id); st != statusOK {
		t.Fatalf("Go releases C's ticket: %v", statusErr(st))
	}
	if st := g.b.release(kC.id); st != statusStale {
		t.Fatalf("Go releases C's ticket twice: %v", statusErr(st))
	}
	kC2 := mustReserve(t, c)
	if st := g.b.cancel(kC2.id); st != statusOK {
		t.Fatalf("Go cancels C's pending ticket: %v", statusErr(st))
	}
	if err := kC2.Commit(); !errors.Is(err, ErrStale) {
		t.Fatalf("C commits a ticket Go cancelled: %v", err)
	}
	kG2 := mustReserve(t, g)
	if st := c.b.finish(kG2.id); st != statusOK {
		t.Fatalf("C finishes Go's ticket: %v", statusErr(st))
	}
	kC3 := mustReserve(t, c)
	if st := g.b.commit(kC3.id); st != statusOK {
		t.Fatalf("Go commits C's ticket: %v", statusErr(st))
	}
	if err := kC3.Commit(); !errors.Is(err, ErrStale) { // committed on the other side
		t.Fatalf("C commits a ticket Go committed: %v", err)
	}
	if err := kC3.Finish(); err != nil { // releases it
		t.Fatalf("C finishes a ticket Go committed: %v", err)
	}
	if st := g.b.touch(kC3.id); st != statusStale {
		t.Fatalf("Go touches a ticket C finished: %v", statusErr(st))
	}

	// An engine removed by one side with the other's tickets on it: they
	// can only be finished (SPEC, Removing).
	eX := mustAdd(t, g, "removed", 2)
	pend, err := c.ReserveOn(eX)
	wantErr(t, "C ReserveOn Go's engine", err, nil)
	pend2, err := c.ReserveOn(eX)
	wantErr(t, "C ReserveOn Go's engine", err, nil)
	wantErr(t, "Go removes it", g.Remove(eX), nil)
	wantErr(t, "C ReserveOn the removed engine", func() error { _, err := c.ReserveOn(eX); return err }(), ErrStale)
	wantErr(t, "C commits on the removed engine", pend.Commit(), ErrStale)
	wantErr(t, "C cancels after that commit", pend.Cancel(), ErrStale)
	wantErr(t, "C cancels on the removed engine", pend2.Cancel(), nil)
	// Drained by one side: the other admits nothing new on it.
	wantErr(t, "C drains Go's engine", c.Drain(eG), nil)
	_, err = g.ReserveOn(eG)
	wantErr(t, "Go ReserveOn an engine C drained", err, ErrNoCapacity)
	wantErr(t, "Go undrains it", g.Undrain(eG), nil)

	// Settings made on one side are seen by the other.
	if err := g.SetPriority(eC, 7); err != nil {
		t.Fatal(err)
	}
	if err := c.SetHealthy(eG, false); err != nil {
		t.Fatal(err)
	}

	// Admissions from both never exceed capacity: 3 + 2 across 2 engines.
	admitted, peak := contend(t, []*Table{c, g}, 24, 1500*time.Millisecond, time.Millisecond,
		map[Engine]int64{eC: 3, eG: 2})
	if p := peak; p > 5 {
		t.Fatalf("%d admitted at once on total capacity 5", p)
	}
	if admitted < 10 {
		t.Fatalf("only %d admissions", admitted)
	}

	// Stats agree, to the last field.
	sc, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sg, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(sc) != 2 || len(sg) != 2 {
		t.Fatalf("C %+v\nGo %+v", sc, sg)
	}
	var total uint64
	for i := range sc {
		if sc[i] != sg[i] {
			t.Fatalf("stats differ:\nC  %+v\nGo %+v", sc[i], sg[i])
		}
		if sc[i].Active != 0 || sc[i].Pending != 0 {
			t.Fatalf("left over: %+v", sc[i])
		}
		total += sc[i].ReservedTotal
	}
	if want := uint64(admitted) + 5; total != want {
		t.Fatalf("reserved total %d, want %d", total, want)
	}
	if sc[0].Engine != eC || sc[0].Priority != 7 || sc[1].Engine != eG || sc[1].Healthy {
		t.Fatalf("settings across clients: %+v", sc)
	}
	for _, tb := range []*Table{c, g} {
		if s, err := tb.b.engineStats(eG); err != nil || s != sg[1] {
			t.Fatalf("engineStats: %+v, %v", s, err)
		}
		if n := tb.TicketCounts(); n.Pending != 0 || n.Active != 0 {
			t.Fatalf("TicketCounts %+v", n)
		}
	}
	t.Logf("%d admissions from C and Go, peak %d", admitted, peak)
}
