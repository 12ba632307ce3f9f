//go:build cgo

package engineslots

// The cgo boundary: build flags, small C shims, and cBackend, the backend
// of in-process, shared and remote (Redis) tables. Only this file calls C.
//
// The shims return their results by value, so no Go pointer is ever handed
// to C for an out-parameter (nothing escapes, nothing to pin, cgocheck has
// nothing to inspect). The only Go memory C sees is a key's bytes and the
// snapshot buffer, both read or written during the call only and free of Go
// pointers, as the cgo pointer rules require.
//
// Linking. The flags come from pkg-config (the installed engine_slots.pc,
// or the build tree's, see buildtree-pc.sh), so nothing here points into a
// checkout. pkg-config's `-L<libdir> -lengine_slots` alone would pick
// libengine_slots.so when it sits beside the .a (as `make install` puts
// it), and the binary would then need LD_LIBRARY_PATH. On Linux the
// directives below come first on the link line (cgo appends the pkg-config
// flags after them), so:
//   - `--push-state,-Bstatic -lengine_slots --pop-state` links the static
//     archive (ld applies every -L to every -l, wherever it stands), and
//     restores the mode the link was in (so `-extldflags -static` still
//     works);
//   - the Rust runtime inside the archive needs libpthread, libdl and libm
//     (the .pc's Libs.private, which cgo does not read);
//   - `--as-needed` makes pkg-config's own `-lengine_slots` (the .so, whose
//     symbols are all defined by then) add no DT_NEEDED entry. It stays in
//     effect for the rest of the link, as it does by default on Ubuntu and
//     others: libraries nothing references are not recorded.
// Every flag is on cgo's allow-list. Other systems link what pkg-config
// says (the shared library where both exist).

/*
#cgo pkg-config: engine_slots
#cgo linux LDFLAGS: -Wl,--push-state,-Bstatic -lengine_slots -Wl,--pop-state -lpthread -ldl -lm -Wl,--as-needed
#include <stdlib.h>
#include <string.h>
#include <engine_slots.h>

typedef struct { es_status status; es_table *table; } go_es_new_result;
typedef struct { es_status status; es_engine engine; } go_es_engine_result;
typedef struct { es_status status; es_engine engine; bool created; } go_es_add_or_find_result;
typedef struct { es_status status; es_ticket ticket; es_engine engine; } go_es_reserve_result;
typedef struct { es_status status; uint32_t n; } go_es_count_result;
typedef struct { es_status status; size_t len; } go_es_snapshot_result;
typedef struct { es_status status; es_ticket_counts counts; } go_es_ticket_counts_result;
typedef struct { es_status status; es_engine_stats stats; } go_es_stats_result;
typedef struct { es_status status; es_config cfg; } go_es_config_result;

static go_es_config_result go_es_config_default(void) {
	go_es_config_result r;
	memset(&r, 0, sizeof r);
	r.status = es_config_default(&r.cfg);
	return r;
}

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

static go_es_new_result go_es_table_open_redis(const char *url, const char *name, es_config cfg, int has_cfg) {
	go_es_new_result r = {0, NULL};
	r.status = es_table_open_redis(url, name, has_cfg ? &cfg : NULL, &r.table);
	return r;
}

static go_es_config_result go_es_table_get_config(const es_table *t) {
	go_es_config_result r;
	memset(&r, 0, sizeof r);
	r.status = es_table_get_config(t, &r.cfg);
	return r;
}

static go_es_engine_result go_es_engine_add_ex(es_table *t, const uint8_t *key, size_t len, es_engine_spec spec) {
	go_es_engine_result r = {0, 0};
	r.status = es_engine_add_ex(t, key, len, &spec, &r.engine);
	return r;
}

static go_es_add_or_find_result go_es_engine_add_or_find(es_table *t, const uint8_t *key, size_t len, es_engine_spec spec) {
	go_es_add_or_find_result r = {0, 0, false};
	r.status = es_engine_add_or_find(t, key, len, &spec, &r.engine, &r.created);
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

static go_es_reserve_result go_es_reserve_on_key(uintptr_t t, const uint8_t *key, size_t len) {
	go_es_reserve_result r = {0, 0, 0};
	r.status = es_reserve_on_key((es_table *)t, key, len, &r.ticket, &r.engine);
	return r;
}

static es_status go_es_commit(uintptr_t t, es_ticket k) { return es_commit((es_table *)t, k); }
static es_status go_es_cancel(uintptr_t t, es_ticket k) { return es_cancel((es_table *)t, k); }
static es_status go_es_release(uintptr_t t, es_ticket k) { return es_release((es_table *)t, k); }
static es_status go_es_touch(uintptr_t t, es_ticket k) { return es_touch((es_table *)t, k); }
static es_status go_es_finish(uintptr_t t, es_ticket k) { return es_finish((es_table *)t, k); }
static es_status go_es_release_as_external(uintptr_t t, es_ticket k) { return es_release_as_external((es_table *)t, k); }

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
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// keyMax is the C library's ES_KEY_MAX: the longest key, in bytes. The
// binding never checks key lengths itself (the C side decides); tests use
// this, never a number.
const keyMax = C.ES_KEY_MAX

// The status values of errors.go and the Policy values are the C ABI's: the
// build fails here (an array length mismatch) if they ever differ.
var (
	_ [0]struct{} = [statusOK - C.ES_OK]struct{}{}
	_ [0]struct{} = [statusNoCapacity - C.ES_NO_CAPACITY]struct{}{}
	_ [0]struct{} = [statusNull - C.ES_ERR_NULL]struct{}{}
	_ [0]struct{} = [statusInvalid - C.ES_ERR_INVALID]struct{}{}
	_ [0]struct{} = [statusTableFull - C.ES_ERR_TABLE_FULL]struct{}{}
	_ [0]struct{} = [statusExists - C.ES_ERR_EXISTS]struct{}{}
	_ [0]struct{} = [statusNotFound - C.ES_ERR_NOT_FOUND]struct{}{}
	_ [0]struct{} = [statusStale - C.ES_ERR_STALE]struct{}{}
	_ [0]struct{} = [statusIO - C.ES_ERR_IO]struct{}{}
	_ [0]struct{} = [statusCorrupt - C.ES_ERR_CORRUPT]struct{}{}
	_ [0]struct{} = [statusInternal - C.ES_ERR_INTERNAL]struct{}{}
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

// errOf maps a C status to its Go error (nil for ES_OK).
func errOf(s C.es_status) error { return statusErr(int32(s)) }

// defaultConfig is the C library's es_config_default: the one source of
// the defaults (pureGoDefaults in config.go is the copy for builds without
// cgo, checked against this by a test).
func defaultConfig() Config {
	r := C.go_es_config_default()
	if r.status != C.ES_OK {
		panic(fmt.Sprintf("engineslots: es_config_default: %v", errOf(r.status)))
	}
	return goConfig(r.cfg)
}

func goConfig(c C.es_config) Config {
	return Config{
		MaxEngines:      int(c.max_engines),
		MaxTickets:      int(c.max_tickets),
		DefaultCapacity: int(c.default_capacity),
		PendingLease:    time.Duration(c.pending_lease_ms) * time.Millisecond,
		ActiveLease:     time.Duration(c.active_lease_ms) * time.Millisecond,
		Policy:          Policy(c.policy),
	}
}

// cConfig converts a Config, or reports a field C cannot represent (the C
// side checks the ranges).
func cConfig(c Config) (C.es_config, bool) {
	var cc C.es_config
	var v [5]uint32
	var ok [5]bool
	v[0], ok[0] = toU32(c.MaxEngines)
	v[1], ok[1] = toU32(c.MaxTickets)
	v[2], ok[2] = toU32(c.DefaultCapacity)
	v[3], ok[3] = toMs(c.PendingLease)
	v[4], ok[4] = toMs(c.ActiveLease)
	if c.Policy < LeastLoaded || c.Policy > TwoChoices || ok != [5]bool{true, true, true, true, true} {
		return cc, false
	}
	cc.max_engines, cc.max_tickets, cc.default_capacity = C.uint32_t(v[0]), C.uint32_t(v[1]), C.uint32_t(v[2])
	cc.pending_lease_ms, cc.active_lease_ms = C.uint32_t(v[3]), C.uint32_t(v[4])
	cc.policy = C.uint32_t(c.Policy)
	return cc, true
}

// Version is the version of the linked C library, e.g. "0.2.0".
func Version() string { return C.GoString(C.es_version()) }

// newLocal creates an in-process table (New).
func newLocal(cfg Config) (backend, error) {
	cc, ok := cConfig(cfg)
	if !ok {
		return nil, ErrInvalid
	}
	r := C.go_es_table_new(cc)
	if err := errOf(r.status); err != nil {
		return nil, err
	}
	return &cBackend{p: r.table}, nil
}

// openShared opens or creates the shared table at path (OpenShared) and
// returns it with its config. ErrIO carries the errno of the failed
// open/create/map.
func openShared(path string, cfg *Config) (backend, Config, error) {
	var cc C.es_config
	has := C.int(0)
	if cfg != nil {
		c, ok := cConfig(*cfg)
		if !ok {
			return nil, Config{}, ErrInvalid
		}
		cc, has = c, 1
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	r, errno := C.go_es_table_open_shared(cpath, cc, has)
	if err := errOf(r.status); err != nil {
		if err == ErrIO && errno != nil {
			err = fmt.Errorf("%w: %s: %v", ErrIO, path, errno)
		}
		return nil, Config{}, err
	}
	b := &cBackend{p: r.table, isShared: true}
	c := C.go_es_table_get_config(r.table)
	if err := errOf(c.status); err != nil {
		b.free()
		return nil, Config{}, err
	}
	return b, goConfig(c.cfg), nil
}

func unlinkShared(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	st, errno := C.es_table_unlink_shared(cpath)
	err := errOf(st)
	if err == ErrIO && errno != nil {
		err = fmt.Errorf("%w: %s: %v", ErrIO, path, errno)
	}
	return err
}

// openRedisC opens or creates the remote table name kept in the Redis
// server at url through the C library's client (es_table_open_redis). OpenRedis
// uses the pure-Go client (remote_backend.go); this one stays for the
// interop tests (a C client and a Go client on one table) and returns it with its config. ErrIO carries
// the errno the C library set (ETIMEDOUT, ECONNREFUSED, EACCES, ...).
func openRedisC(url, name string, cfg *Config) (backend, Config, error) {
	var cc C.es_config
	has := C.int(0)
	if cfg != nil {
		c, ok := cConfig(*cfg)
		if !ok {
			return nil, Config{}, ErrInvalid
		}
		cc, has = c, 1
	}
	curl := C.CString(url)
	defer C.free(unsafe.Pointer(curl))
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	r, errno := C.go_es_table_open_redis(curl, cname, cc, has)
	if err := errOf(r.status); err != nil {
		if err == ErrIO && errno != nil {
			err = fmt.Errorf("%w: %s: %v", ErrIO, name, errno)
		}
		return nil, Config{}, err
	}
	b := &cBackend{p: r.table, isShared: true}
	c := C.go_es_table_get_config(r.table)
	if err := errOf(c.status); err != nil {
		b.free()
		return nil, Config{}, err
	}
	return b, goConfig(c.cfg), nil
}

func unlinkRedisC(url, name string) error {
	curl := C.CString(url)
	defer C.free(unsafe.Pointer(curl))
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	st, errno := C.es_table_unlink_redis(curl, cname)
	err := errOf(st)
	if err == ErrIO && errno != nil {
		err = fmt.Errorf("%w: %s: %v", ErrIO, name, errno)
	}
	return err
}

// cBackend is a table behind the C ABI: in this process's memory (New), in
// a shared file (OpenShared) or in a Redis server (OpenRedis).
type cBackend struct {
	p        *C.es_table // freed by free, once the Table's gate is empty
	isShared bool
	snapLen  atomic.Int64 // engines in the last snapshot: the next buffer's size
}

var _ backend = (*cBackend)(nil)

func (b *cBackend) free() {
	C.es_table_free(b.p)
	b.p = nil // no call reads it any more: the Table's gate is shut and empty
}

func (b *cBackend) shared() bool { return b.isShared }

// hot passes the table to the hot-path shims as an integer (see there).
func (b *cBackend) hot() C.uintptr_t { return C.uintptr_t(uintptr(unsafe.Pointer(b.p))) }

func cSpec(s *engineSpec) C.es_engine_spec {
	var cs C.es_engine_spec
	cs.capacity = C.uint32_t(s.capacity)
	cs.priority = C.int32_t(s.priority)
	cs.external = C.uint32_t(s.external)
	if s.healthy {
		cs.healthy = 1
	}
	if s.draining {
		cs.draining = 1
	}
	cs.user = C.uint64_t(s.user)
	return cs
}

func (b *cBackend) addEngine(key string, spec *engineSpec) (Engine, error) {
	kp, n := cKey(key)
	r := C.go_es_engine_add_ex(b.p, kp, n, cSpec(spec))
	runtime.KeepAlive(key)
	return Engine(r.engine), errOf(r.status)
}

func (b *cBackend) addOrFind(key string, spec *engineSpec) (Engine, bool, error) {
	kp, n := cKey(key)
	r := C.go_es_engine_add_or_find(b.p, kp, n, cSpec(spec))
	runtime.KeepAlive(key)
	return Engine(r.engine), bool(r.created), errOf(r.status)
}

func (b *cBackend) findEngine(key string) (Engine, error) {
	kp, n := cKey(key)
	r := C.go_es_engine_find(b.p, kp, n)
	runtime.KeepAlive(key)
	return Engine(r.engine), errOf(r.status)
}

func (b *cBackend) setCapacity(e Engine, n uint32) error {
	return errOf(C.es_engine_set_capacity(b.p, C.es_engine(e), C.uint32_t(n)))
}

func (b *cBackend) setHealthy(e Engine, healthy bool) error {
	return errOf(C.es_engine_set_healthy(b.p, C.es_engine(e), C.bool(healthy)))
}

func (b *cBackend) setPriority(e Engine, prio int32) error {
	return errOf(C.es_engine_set_priority(b.p, C.es_engine(e), C.int32_t(prio)))
}

func (b *cBackend) setExternal(e Engine, n uint32) error {
	return errOf(C.es_engine_set_external(b.p, C.es_engine(e), C.uint32_t(n)))
}

// setUser sets e's user word (for tests: the Go API keeps values in Go and
// leaves the word to C programs sharing the table).
func (b *cBackend) setUser(e Engine, user uint64) error {
	return errOf(C.es_engine_set_user(b.p, C.es_engine(e), C.uint64_t(user)))
}

func (b *cBackend) drain(e Engine) error   { return errOf(C.es_engine_drain(b.p, C.es_engine(e))) }
func (b *cBackend) undrain(e Engine) error { return errOf(C.es_engine_undrain(b.p, C.es_engine(e))) }
func (b *cBackend) remove(e Engine) error  { return errOf(C.es_engine_remove(b.p, C.es_engine(e))) }

func (b *cBackend) reserve() (int32, uint64, Engine) {
	r := C.go_es_reserve(b.hot())
	return int32(r.status), uint64(r.ticket), Engine(r.engine)
}

func (b *cBackend) reserveOn(e Engine) (int32, uint64) {
	r := C.go_es_reserve_on(b.hot(), C.es_engine(e))
	return int32(r.status), uint64(r.ticket)
}

func (b *cBackend) reserveOnKey(key string) (int32, uint64, Engine) {
	kp, n := cKey(key)
	r := C.go_es_reserve_on_key(b.hot(), kp, n)
	runtime.KeepAlive(key)
	return int32(r.status), uint64(r.ticket), Engine(r.engine)
}

func (b *cBackend) commit(tk uint64) int32 { return int32(C.go_es_commit(b.hot(), C.es_ticket(tk))) }
func (b *cBackend) cancel(tk uint64) int32 { return int32(C.go_es_cancel(b.hot(), C.es_ticket(tk))) }
func (b *cBackend) release(tk uint64) int32 {
	return int32(C.go_es_release(b.hot(), C.es_ticket(tk)))
}
func (b *cBackend) touch(tk uint64) int32  { return int32(C.go_es_touch(b.hot(), C.es_ticket(tk))) }
func (b *cBackend) finish(tk uint64) int32 { return int32(C.go_es_finish(b.hot(), C.es_ticket(tk))) }
func (b *cBackend) releaseAsExternal(tk uint64) int32 {
	return int32(C.go_es_release_as_external(b.hot(), C.es_ticket(tk)))
}

func (b *cBackend) reclaimExpired() (int, error) {
	r := C.go_es_reclaim_expired(b.p)
	return int(r.n), errOf(r.status)
}

func (b *cBackend) ticketCounts() (TicketCounts, error) {
	r := C.go_es_table_ticket_counts(b.p)
	return TicketCounts{
		Free:    int(r.counts.free),
		Pending: int(r.counts.pending),
		Active:  int(r.counts.active),
	}, errOf(r.status)
}

func (b *cBackend) engineStats(e Engine) (EngineStats, error) {
	r := C.go_es_engine_stats_get(b.p, C.es_engine(e))
	if err := errOf(r.status); err != nil {
		return EngineStats{}, err
	}
	return goStats(&r.stats, ""), nil
}

// snapBufs recycles snapshot buffers: with ES_KEY_MAX-byte keys a record
// is about 300 bytes, and Sync may take a snapshot per call.
var snapBufs sync.Pool

// snapshot returns every live engine's stats in one C call (two if engines
// were added since the last call). cachedKey, when it knows an engine's
// key, saves copying the record's key bytes into a new string.
func (b *cBackend) snapshot(cachedKey func(Engine) string) ([]EngineStats, error) {
	n := int(b.snapLen.Load()) + 8
	for {
		var buf []C.es_engine_stats
		if p, _ := snapBufs.Get().(*[]C.es_engine_stats); p != nil && cap(*p) >= n {
			buf = (*p)[:n]
		} else {
			buf = make([]C.es_engine_stats, n)
		}
		r := C.go_es_table_snapshot(b.p, &buf[0], C.size_t(len(buf)))
		live := int(r.len)
		if err := errOf(r.status); err != nil {
			snapBufs.Put(&buf)
			return nil, err
		}
		if live > n {
			snapBufs.Put(&buf)
			n = live + 8
			continue
		}
		b.snapLen.Store(int64(live))
		out := make([]EngineStats, live)
		for i := range out {
			out[i] = goStats(&buf[i], cachedKey(Engine(buf[i].engine)))
		}
		snapBufs.Put(&buf)
		return out, nil
	}
}

// goStats converts one C record; key, when not empty, is used instead of
// copying the record's key bytes (the caller's cached copy).
func goStats(c *C.es_engine_stats, key string) EngineStats {
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
		User:          uint64(c.user),
	}
}
