package engineslots

import "sync"

// countingBackend counts every call a Table makes to its backend, by
// method: tests use it to prove that a path makes no C call, or which one.
type countingBackend struct {
	backend
	mu    sync.Mutex
	calls map[string]int
}

// countCalls makes tb count its backend calls. Call it before tb is shared.
func countCalls(tb *Table) *countingBackend {
	c := &countingBackend{backend: tb.b, calls: map[string]int{}}
	tb.b = c
	return c
}

// take returns the counts so far and starts again from zero.
func (c *countingBackend) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.calls
	c.calls = map[string]int{}
	return m
}

func (c *countingBackend) n(method string) {
	c.mu.Lock()
	c.calls[method]++
	c.mu.Unlock()
}

func (c *countingBackend) addEngine(key string, s *engineSpec) (Engine, error) {
	c.n("addEngine")
	return c.backend.addEngine(key, s)
}

func (c *countingBackend) addOrFind(key string, s *engineSpec) (Engine, bool, error) {
	c.n("addOrFind")
	return c.backend.addOrFind(key, s)
}

func (c *countingBackend) findEngine(key string) (Engine, error) {
	c.n("findEngine")
	return c.backend.findEngine(key)
}

func (c *countingBackend) setCapacity(e Engine, n uint32) error {
	c.n("setCapacity")
	return c.backend.setCapacity(e, n)
}

func (c *countingBackend) setHealthy(e Engine, h bool) error {
	c.n("setHealthy")
	return c.backend.setHealthy(e, h)
}

func (c *countingBackend) setPriority(e Engine, p int32) error {
	c.n("setPriority")
	return c.backend.setPriority(e, p)
}

func (c *countingBackend) setExternal(e Engine, n uint32) error {
	c.n("setExternal")
	return c.backend.setExternal(e, n)
}

func (c *countingBackend) drain(e Engine) error   { c.n("drain"); return c.backend.drain(e) }
func (c *countingBackend) undrain(e Engine) error { c.n("undrain"); return c.backend.undrain(e) }
func (c *countingBackend) remove(e Engine) error  { c.n("remove"); return c.backend.remove(e) }

func (c *countingBackend) reserve() (int32, uint64, Engine) {
	c.n("reserve")
	return c.backend.reserve()
}

func (c *countingBackend) reserveOn(e Engine) (int32, uint64) {
	c.n("reserveOn")
	return c.backend.reserveOn(e)
}

func (c *countingBackend) reserveOnKey(key string) (int32, uint64, Engine) {
	c.n("reserveOnKey")
	return c.backend.reserveOnKey(key)
}

func (c *countingBackend) commit(k uint64) int32  { c.n("commit"); return c.backend.commit(k) }
func (c *countingBackend) cancel(k uint64) int32  { c.n("cancel"); return c.backend.cancel(k) }
func (c *countingBackend) release(k uint64) int32 { c.n("release"); return c.backend.release(k) }
func (c *countingBackend) touch(k uint64) int32   { c.n("touch"); return c.backend.touch(k) }
func (c *countingBackend) finish(k uint64) int32  { c.n("finish"); return c.backend.finish(k) }
func (c *countingBackend) releaseAsExternal(k uint64) int32 {
	c.n("releaseAsExternal")
	return c.backend.releaseAsExternal(k)
}

func (c *countingBackend) reclaimExpired() (int, error) {
	c.n("reclaimExpired")
	return c.backend.reclaimExpired()
}

func (c *countingBackend) ticketCounts() (TicketCounts, error) {
	c.n("ticketCounts")
	return c.backend.ticketCounts()
}

func (c *countingBackend) engineStats(e Engine) (EngineStats, error) {
	c.n("engineStats")
	return c.backend.engineStats(e)
}

func (c *countingBackend) snapshot(f func(Engine) string) ([]EngineStats, error) {
	c.n("snapshot")
	return c.backend.snapshot(f)
}
