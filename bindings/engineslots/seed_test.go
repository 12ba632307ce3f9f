package engineslots

import (
	"errors"
	"sync"
)

// seedTable is a pure-Go port of the seed design the benchmarks compare
// against: one sync.Mutex around a map[string]int of pending picks per
// engine, and a selection that scans every engine's count in the map.
// It is what a proxy writes by hand; it is also what leaks when an error
// path forgets a decrement (it has no leases).
type seedTable struct {
	mu       sync.Mutex
	capacity map[string]int // engine key -> capacity
	active   map[string]int // engine key -> streams reported running
	pending  map[string]int // engine key -> picked, not yet reported
}

func newSeedTable(keys []string, capacity int) *seedTable {
	s := &seedTable{capacity: map[string]int{}, active: map[string]int{}, pending: map[string]int{}}
	for _, k := range keys {
		s.capacity[k] = capacity
		s.pending[k] = 0
		s.active[k] = 0
	}
	return s
}

var errSeedFull = errors.New("seed: no engine has room")

// reserve picks the least loaded engine with room and counts a pending
// stream on it.
func (s *seedTable) reserve() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, bestLoad, bestCap := "", 0, 1
	for key, pending := range s.pending {
		load, c := s.active[key]+pending, s.capacity[key]
		if load >= c {
			continue
		}
		// load/c < bestLoad/bestCap, without division
		if best == "" || load*bestCap < bestLoad*c {
			best, bestLoad, bestCap = key, load, c
		}
	}
	if best == "" {
		return "", errSeedFull
	}
	s.pending[best]++
	return best, nil
}

// commit moves a stream from pending to active (the engine reported it).
func (s *seedTable) commit(key string) {
	s.mu.Lock()
	s.pending[key]--
	s.active[key]++
	s.mu.Unlock()
}

// release ends an active stream.
func (s *seedTable) release(key string) {
	s.mu.Lock()
	s.active[key]--
	s.mu.Unlock()
}
