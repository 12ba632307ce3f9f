package engineslots

// The cgo boundary: build flags and small C shims.
//
// The shims return their results by value, so no Go pointer is ever handed
// to C for an out-parameter (nothing escapes, nothing to pin, cgocheck has
// nothing to inspect). The only Go memory C sees is a key's bytes and the
// Stats buffer, both read or written during the call only and free of Go
// pointers, as the cgo pointer rules require.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/../../target/release/libengine_slots.a -lm -ldl -lpthread
#include <stdlib.h>
#include <string.h>
#include <engine_slots.h>

typedef struct { es_status status; es_table *table; } go_es_new_result;
typedef struct { es_status status; es_engine engine; } go_es_engine_result;
typedef struct { es_status status; es_ticket ticket; es_engine engine; } go_es_reserve_result;
typedef struct { es_status status; uint32_t n; } go_es_count_result;
typedef struct { es_status status; size_t len; } go_es_snapshot_result;
typedef struct { es_status status; es_ticket_counts counts; } go_es_ticket_counts_result;
typedef struct { es_status status; es_engine_stats stats; } go_es_stats_result;

static go_es_new_result go_es_table_new(es_config cfg) {
	go_es_new_result r = {0, NULL};
	r.status = es_table_new(&cfg, &r.table);
	return r;
}

static go_es_new_result go_es_table_open_shared(const char *path, es_config cfg, int has_cfg) {
	go_es_new_result r = {0, NULL};
	r.status = es_table_open_shared(path, has_cfg ? &cfg : NULL, &r.table);
	return r;
}

typedef struct { es_status status; es_config cfg; } go_es_config_result;

static go_es_config_result go_es_table_get_config(const es_table *t) {
	go_es_config_result r;
	memset(&r, 0, sizeof r);
	r.status = es_table_get_config(t, &r.cfg);
	return r;
}

static go_es_engine_result go_es_engine_add(es_table *t, const uint8_t *key, size_t len, uint32_t cap) {
	go_es_engine_result r = {0, 0};
	r.status = es_engine_add(t, key, len, cap, &r.engine);
	return r;
}

static go_es_engine_result go_es_engine_add_ex(es_table *t, const uint8_t *key, size_t len,
		uint32_t cap, int32_t prio, uint32_t ext, uint8_t healthy) {
	go_es_engine_result r = {0, 0};
	es_engine_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.capacity = cap;
	spec.priority = prio;
	spec.external = ext;
	spec.healthy = healthy;
	r.status = es_engine_add_ex(t, key, len, &spec, &r.engine);
	return r;
}

static go_es_engine_result go_es_engine_find(const es_table *t, const uint8_t *key, size_t len) {
	go_es_engine_result r = {0, 0};
	r.status = es_engine_find(t, key, len, &r.engine);
	return r;
}

// The hot path takes the table as a uintptr_t: it is C memory, so cgo's
// pointer checks (run on every pointer argument) have nothing to find.
static go_es_reserve_result go_es_reserve(uintptr_t t) {
	go_es_reserve_result r = {0, 0, 0};
	r.status = es_reserve((es_table *)t, &r.ticket, &r.engine);
	return r;
}

static go_es_reserve_result go_es_reserve_on(uintptr_t t, es_engine e) {
	go_es_reserve_result r = {0, 0, e};
	r.status = es_reserve_on((es_table *)t, e, &r.ticket);
	return r;
}

static es_status go_es_commit(uintptr_t t, es_ticket k) { return es_commit((es_table *)t, k); }
static es_status go_es_cancel(uintptr_t t, es_ticket k) { return es_cancel((es_table *)t, k); }
static es_status go_es_release(uintptr_t t, es_ticket k) { return es_release((es_table *)t, k); }
static es_status go_es_touch(uintptr_t t, es_ticket k) { return es_touch((es_table *)t, k); }

static go_es_count_result go_es_reclaim_expired(es_table *t) {
	go_es_count_result r = {0, 0};
	r.status = es_reclaim_expired(t, &r.n);
	return r;
}

static go_es_snapshot_result go_es_table_snapshot(const es_table *t, es_engine_stats *buf, size_t cap) {
	go_es_snapshot_result r = {0, 0};
	r.status = es_table_snapshot(t, buf, cap, &r.len);
	return r;
}

static go_es_stats_result go_es_engine_stats_get(const es_table *t, es_engine e) {
	go_es_stats_result r;
	memset(&r, 0, sizeof r);
	r.status = es_engine_stats_get(t, e, &r.stats);
	return r;
}

static go_es_ticket_counts_result go_es_table_ticket_counts(const es_table *t) {
	go_es_ticket_counts_result r;
	r.counts.free = r.counts.pending = r.counts.active = 0;
	r.status = es_table_ticket_counts(t, &r.counts);
	return r;
}
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"time"
	"unsafe"
)

// The es_status values, from the header.
const (
	statusOK         int32 = C.ES_OK
	statusNoCapacity int32 = C.ES_NO_CAPACITY
	statusNull       int32 = C.ES_ERR_NULL
	statusInvalid    int32 = C.ES_ERR_INVALID
	statusTableFull  int32 = C.ES_ERR_TABLE_FULL
	statusExists     int32 = C.ES_ERR_EXISTS
	statusNotFound   int32 = C.ES_ERR_NOT_FOUND
	statusStale      int32 = C.ES_ERR_STALE
	statusIO         int32 = C.ES_ERR_IO
	statusCorrupt    int32 = C.ES_ERR_CORRUPT
	statusInternal   int32 = C.ES_ERR_INTERNAL
)

// The Policy values are the C ABI's es_policy values: the build fails here
// (an array length mismatch) if they ever differ.
var (
	_ [0]struct{} = [int(LeastLoaded) - C.ES_POLICY_LEAST_LOADED]struct{}{}
	_ [0]struct{} = [int(FillFirst) - C.ES_POLICY_FILL_FIRST]struct{}{}
	_ [0]struct{} = [int(TwoChoices) - C.ES_POLICY_TWO_CHOICES]struct{}{}
)

// cKey passes a key's bytes to C without copying. C reads them during the
// call only (never retains them) and they hold no Go pointers, so this
// follows the cgo pointer rules; the caller keeps key alive across the call.
// An empty key passes a nil or dangling pointer with length 0, which the C
// side rejects (ES_ERR_INVALID) before reading anything; a key longer than
// ES_KEY_MAX is rejected the same way. The rule lives there alone.
func cKey(key string) (*C.uint8_t, C.size_t) {
	return (*C.uint8_t)(unsafe.Pointer(unsafe.StringData(key))), C.size_t(len(key))
}

// toU32 converts a Go int argument to a C uint32_t, or reports that it does
// not fit (negative or above math.MaxUint32).
func toU32(n int) (C.uint32_t, bool) {
	if n < 0 || uint64(n) > math.MaxUint32 {
		return 0, false
	}
	return C.uint32_t(n), true
}

// toMs converts a lease to whole milliseconds: 0 stays 0 (never expires),
// any other positive duration is rounded up (so 1ns is 1ms, not "never"),
// negative and above math.MaxUint32 ms are not representable.
func toMs(d time.Duration) (C.uint32_t, bool) {
	if d < 0 || d > math.MaxUint32*time.Millisecond {
		return 0, false
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return C.uint32_t(ms), true
}

// errOf maps a C status to its Go error (nil for ES_OK).
func errOf(s C.es_status) error { return statusErr(int32(s)) }

// libStamp is set by run-tests.sh and bench.sh (-ldflags -X) to the hash of
// libengine_slots.a, so that a rebuilt library forces a relink: the Go build
// cache does not track files named in #cgo LDFLAGS.
var libStamp string

// cTable is the opaque C table. Only this file calls C; the rest of the
// package holds a *cTable and calls the wrappers below.
type cTable = C.es_table

// cStats is one es_engine_stats record.
type cStats = C.es_engine_stats

// cConfigT is the C es_config.
type cConfigT = C.es_config

func esTableNew(cfg C.es_config) (*cTable, error) {
	r := C.go_es_table_new(cfg)
	return r.table, errOf(r.status)
}

func esTableFree(p *cTable) { C.es_table_free(p) }

// esTableOpenShared opens or creates the shared table at path. ErrIO
// carries the errno of the failed open/create/map.
func esTableOpenShared(path string, cfg *C.es_config) (*cTable, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cc C.es_config
	has := C.int(0)
	if cfg != nil {
		cc, has = *cfg, 1
	}
	r, errno := C.go_es_table_open_shared(cpath, cc, has)
	err := errOf(r.status)
	if err == ErrIO && errno != nil {
		err = fmt.Errorf("%w: %s: %v", ErrIO, path, errno)
	}
	return r.table, err
}

func esTableUnlinkShared(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	st, errno := C.es_table_unlink_shared(cpath)
	err := errOf(st)
	if err == ErrIO && errno != nil {
		err = fmt.Errorf("%w: %s: %v", ErrIO, path, errno)
	}
	return err
}

// esTableConfig reads the configuration a table was created with.
func esTableConfig(p *cTable) (Config, error) {
	r := C.go_es_table_get_config(p)
	c := r.cfg
	return Config{
		MaxEngines:      int(c.max_engines),
		MaxTickets:      int(c.max_tickets),
		DefaultCapacity: int(c.default_capacity),
		PendingLease:    time.Duration(c.pending_lease_ms) * time.Millisecond,
		ActiveLease:     time.Duration(c.active_lease_ms) * time.Millisecond,
		Policy:          Policy(c.policy),
	}, errOf(r.status)
}

func esEngineAdd(p *cTable, key string, capacity C.uint32_t) (Engine, error) {
	kp, n := cKey(key)
	r := C.go_es_engine_add(p, kp, n, capacity)
	runtime.KeepAlive(key)
	return Engine(r.engine), errOf(r.status)
}

// esEngineAddEx registers an engine with every setting in place at once.
func esEngineAddEx(p *cTable, key string, capacity, external C.uint32_t, prio int32, healthy bool) (Engine, error) {
	kp, n := cKey(key)
	h := C.uint8_t(0)
	if healthy {
		h = 1
	}
	r := C.go_es_engine_add_ex(p, kp, n, capacity, C.int32_t(prio), external, h)
	runtime.KeepAlive(key)
	return Engine(r.engine), errOf(r.status)
}

func esEngineFind(p *cTable, key string) (Engine, error) {
	kp, n := cKey(key)
	r := C.go_es_engine_find(p, kp, n)
	runtime.KeepAlive(key)
	return Engine(r.engine), errOf(r.status)
}

func esSetCapacity(p *cTable, e Engine, n C.uint32_t) error {
	return errOf(C.es_engine_set_capacity(p, C.es_engine(e), n))
}

func esSetHealthy(p *cTable, e Engine, healthy bool) error {
	return errOf(C.es_engine_set_healthy(p, C.es_engine(e), C.bool(healthy)))
}

func esSetPriority(p *cTable, e Engine, prio int32) error {
	return errOf(C.es_engine_set_priority(p, C.es_engine(e), C.int32_t(prio)))
}

func esSetExternal(p *cTable, e Engine, n C.uint32_t) error {
	return errOf(C.es_engine_set_external(p, C.es_engine(e), n))
}

func esDrain(p *cTable, e Engine) error {
	return errOf(C.es_engine_drain(p, C.es_engine(e)))
}

func esUndrain(p *cTable, e Engine) error {
	return errOf(C.es_engine_undrain(p, C.es_engine(e)))
}

func esRemove(p *cTable, e Engine) error {
	return errOf(C.es_engine_remove(p, C.es_engine(e)))
}

// esReserve returns the raw status so the hot path can test for ES_OK
// before mapping anything.
func esReserve(p *cTable) (st int32, tk uint64, e Engine) {
	r := C.go_es_reserve(hot(p))
	return int32(r.status), uint64(r.ticket), Engine(r.engine)
}

func esReserveOn(p *cTable, e Engine) (st int32, tk uint64) {
	r := C.go_es_reserve_on(hot(p), C.es_engine(e))
	return int32(r.status), uint64(r.ticket)
}

func esCommit(p *cTable, tk uint64) int32  { return int32(C.go_es_commit(hot(p), C.es_ticket(tk))) }
func esCancel(p *cTable, tk uint64) int32  { return int32(C.go_es_cancel(hot(p), C.es_ticket(tk))) }
func esRelease(p *cTable, tk uint64) int32 { return int32(C.go_es_release(hot(p), C.es_ticket(tk))) }
func esTouch(p *cTable, tk uint64) int32   { return int32(C.go_es_touch(hot(p), C.es_ticket(tk))) }

// hot passes the table to the hot-path shims as an integer (see there).
func hot(p *cTable) C.uintptr_t { return C.uintptr_t(uintptr(unsafe.Pointer(p))) }

func esReclaimExpired(p *cTable) (int, error) {
	r := C.go_es_reclaim_expired(p)
	return int(r.n), errOf(r.status)
}

func esTicketCounts(p *cTable) (TicketCounts, error) {
	r := C.go_es_table_ticket_counts(p)
	return TicketCounts{
		Free:    int(r.counts.free),
		Pending: int(r.counts.pending),
		Active:  int(r.counts.active),
	}, errOf(r.status)
}

// esSnapshot fills buf (Go memory holding no Go pointers, written by C
// during the call only, as the cgo rules allow) and returns how many live
// engines there are, which may exceed len(buf).
func esSnapshot(p *cTable, buf []cStats) (int, error) {
	var bp *C.es_engine_stats
	if len(buf) > 0 {
		bp = &buf[0]
	}
	r := C.go_es_table_snapshot(p, bp, C.size_t(len(buf)))
	runtime.KeepAlive(buf)
	return int(r.len), errOf(r.status)
}

func esEngineStats(p *cTable, e Engine) (cStats, error) {
	r := C.go_es_engine_stats_get(p, C.es_engine(e))
	return r.stats, errOf(r.status)
}

// statsEngine is the engine a C record describes.
func statsEngine(c *cStats) Engine { return Engine(c.engine) }

// goStats converts one C record; key, when not empty, is used instead of
// copying the record's key bytes (the caller's cached copy).
func goStats(c *cStats, key string) EngineStats {
	if key == "" {
		n := int(c.key_len)
		if n > len(c.key) {
			n = len(c.key)
		}
		key = string(unsafe.Slice((*byte)(unsafe.Pointer(&c.key[0])), n))
	}
	return EngineStats{
		Engine:        Engine(c.engine),
		Key:           key,
		Capacity:      int(c.capacity),
		Active:        int(c.active),
		Pending:       int(c.pending),
		External:      int(c.external),
		Priority:      int(c.priority),
		Healthy:       bool(c.healthy),
		Draining:      bool(c.draining),
		ReservedTotal: uint64(c.reserved_total),
		ExpiredTotal:  uint64(c.expired_total),
	}
}

// cConfig converts a Config, or reports a field C cannot represent.
func cConfig(c Config) (C.es_config, bool) {
	var cc C.es_config
	var ok [5]bool
	cc.max_engines, ok[0] = toU32(c.MaxEngines)
	cc.max_tickets, ok[1] = toU32(c.MaxTickets)
	cc.default_capacity, ok[2] = toU32(c.DefaultCapacity)
	cc.pending_lease_ms, ok[3] = toMs(c.PendingLease)
	cc.active_lease_ms, ok[4] = toMs(c.ActiveLease)
	if c.Policy < LeastLoaded || c.Policy > TwoChoices {
		return cc, false
	}
	cc.policy = C.uint32_t(c.Policy)
	return cc, ok == [5]bool{true, true, true, true, true}
}

// Version is the version of the linked C library, e.g. "0.1.0".
func Version() string {
	return C.GoString(C.es_version())
}
