package engineslots

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// goRedisBackend is a remote table reached from pure Go: a client of the
// server-side library (engine_slots.lua, embedded) over go-redis, with the
// behaviour of the Rust/C client (src/remote/): the same URL forms,
// handles, nonces, session heartbeat, library loading and statuses, so Go
// and C processes share one table. Every call is one FCALL round trip with
// one timeout (?timeout_ms=), nothing blocks an OS thread in C.
type goRedisBackend struct {
	rdb       redis.UniversalClient
	prefix    string
	name      string
	sid       string
	sessionMs string
	timeout   time.Duration
	cfgArgs   []any // es_open's config arguments, to recreate a lost table

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

var _ backend = (*goRedisBackend)(nil)

// Reply statuses of the library beyond the C ABI's.
const remoteNoTable = 100

// readOnlyFuncs may be sent twice: retried once when a pooled connection
// turned out closed.
var readOnlyFuncs = map[string]bool{
	"es_find": true, "es_stats": true, "es_snapshot": true, "es_counts": true, "es_beat": true,
}

// remoteConfigArgs is es_open's config part for cfg, validated as the C
// client does before connecting.
func remoteConfigArgs(cfg Config) ([]any, error) {
	me, ok1 := toU32(cfg.MaxEngines)
	mt, ok2 := toU32(cfg.MaxTickets)
	dc, ok3 := toU32(cfg.DefaultCapacity)
	pl, ok4 := toMs(cfg.PendingLease)
	al, ok5 := toMs(cfg.ActiveLease)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || cfg.Policy < LeastLoaded || cfg.Policy > TwoChoices ||
		me < 1 || int64(me) > luaMaxEngines || mt < 1 || int64(mt) > luaMaxTickets ||
		dc < 1 || int64(dc) > luaMaxCapacity {
		return nil, ErrInvalid
	}
	return []any{"1", u32s(me), u32s(mt), u32s(dc), u32s(pl), u32s(al), strconv.Itoa(int(cfg.Policy))}, nil
}

func u32s(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// newGoRedisClient makes the go-redis client for u: no automatic retries
// (a call that writes must not be sent twice), every wait bounded by the
// URL's timeout, RESP2, no CLIENT SETINFO.
func newGoRedisClient(u *redisURL) (redis.UniversalClient, error) {
	var tlsCfg *tls.Config
	if u.tls {
		tlsCfg = &tls.Config{ServerName: u.hosts[0].host, MinVersion: tls.VersionTLS12}
		if u.tlsCA != "" {
			pem, err := os.ReadFile(u.tlsCA)
			if err != nil {
				var errno syscall.Errno
				if !errors.As(err, &errno) {
					errno = syscall.EIO
				}
				return nil, fmt.Errorf("%w: %w: %v", ErrIO, errno, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: %w: %s: no certificate", ErrIO, syscall.EIO, u.tlsCA)
			}
			tlsCfg.RootCAs = pool
		}
	}
	addr := func(h hostPort) string { return net.JoinHostPort(h.host, strconv.Itoa(int(h.port))) }
	if u.sentinel {
		var sentinels []string
		for _, h := range u.hosts {
			sentinels = append(sentinels, addr(h))
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:            u.master,
			SentinelAddrs:         sentinels,
			Username:              u.username,
			Password:              u.password,
			DB:                    u.db,
			Protocol:              2,
			DisableIdentity:       true,
			MaxRetries:            -1,
			DialTimeout:           u.timeout,
			ReadTimeout:           u.timeout,
			WriteTimeout:          u.timeout,
			PoolTimeout:           u.timeout,
			ContextTimeoutEnabled: true,
			MaxIdleConns:          32,
		}), nil
	}
	return redis.NewClient(&redis.Options{
		Addr:                  addr(u.hosts[0]),
		Username:              u.username,
		Password:              u.password,
		DB:                    u.db,
		Protocol:              2,
		DisableIdentity:       true,
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           u.timeout,
		ReadTimeout:           u.timeout,
		WriteTimeout:          u.timeout,
		PoolTimeout:           u.timeout,
		ContextTimeoutEnabled: true,
		MaxIdleConns:          32,
		TLSConfig:             tlsCfg,
	}), nil
}

// fcall is FCALL fn 1 prefix args...
func fcall(ctx context.Context, rdb redis.UniversalClient, fn, prefix string, args ...any) (any, error) {
	return rdb.FCall(ctx, fn, []string{prefix}, args...).Result()
}

// loadLibrary loads (or replaces) the library.
func loadLibrary(ctx context.Context, rdb redis.UniversalClient) error {
	if err := rdb.FunctionLoadReplace(ctx, luaSource).Err(); err != nil {
		return diagnose(ctx, rdb, err)
	}
	return nil
}

// ensureLibrary makes sure the server has a library this client can use
// (src/remote/library.rs): loads it when missing, replaces one of our
// major with a lower minor, refuses another major (EPROTO).
func ensureLibrary(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	v, err := fcall(ctx, rdb, "es_version", prefix)
	if err != nil {
		if functionMissing(err) {
			return loadLibrary(ctx, rdb)
		}
		return diagnose(ctx, rdb, err)
	}
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return errGarbled
	}
	major, ok1 := a[0].(int64)
	minor, ok2 := a[1].(int64)
	if !ok1 || !ok2 || major != luaMajor {
		return fmt.Errorf("%w: %w: server has library version %v.%v, this client speaks %d.x",
			ErrIO, syscall.EPROTO, a[0], a[1], luaMajor)
	}
	if minor < luaMinor {
		return loadLibrary(ctx, rdb)
	}
	return nil
}

// diagnose is the error of a failed call; tells a server without Functions
// (ENOTSUP, older than 7.0) from one where they are disabled (ENOSYS).
func diagnose(ctx context.Context, rdb redis.UniversalClient, err error) error {
	if unknownCommand(err) {
		info, ierr := rdb.Info(ctx, "server").Result()
		if ierr == nil {
			for _, l := range splitLines(info) {
				if v, ok := cutPrefix(l, "redis_version:"); ok {
					if m, err := strconv.Atoi(firstField(v, '.')); err == nil && m < 7 {
						return fmt.Errorf("%w: %w: redis %s has no Functions", ErrIO, syscall.ENOTSUP, v)
					}
				}
			}
		}
		return fmt.Errorf("%w: %w: %v", ErrIO, syscall.ENOSYS, err)
	}
	return remoteErr(err)
}

// openGoRedis opens (or creates) the table name at url with the pure-Go
// client and returns it with its config.
func openGoRedis(url, name string, cfg *Config) (backend, Config, error) {
	u, err := parseRedisURL(url)
	if err != nil {
		return nil, Config{}, err
	}
	prefix, err := tablePrefix(name)
	if err != nil {
		return nil, Config{}, err
	}
	var cfgArgs []any
	if cfg != nil {
		if cfgArgs, err = remoteConfigArgs(*cfg); err != nil {
			return nil, Config{}, err
		}
	}
	rdb, err := newGoRedisClient(u)
	if err != nil {
		return nil, Config{}, err
	}
	b := &goRedisBackend{
		rdb:       rdb,
		prefix:    prefix,
		name:      name,
		sid:       nonceHex(),
		sessionMs: u32s(u.sessionMs),
		timeout:   u.timeout,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), u.timeout)
	defer cancel()
	if err := ensureLibrary(ctx, rdb, prefix); err != nil {
		_ = rdb.Close()
		return nil, Config{}, wrapName(err, name)
	}
	own, err := b.open(ctx, cfgArgs)
	if err != nil {
		_ = rdb.Close()
		return nil, Config{}, wrapName(err, name)
	}
	if cfgArgs == nil {
		cfgArgs, _ = remoteConfigArgs(own)
	}
	b.cfgArgs = cfgArgs
	go b.heartbeat(time.Duration(max(u.sessionMs/3, 10)) * time.Millisecond)
	return b, own, nil
}

// wrapName adds the table's name to an ErrIO, as the cgo path does.
func wrapName(err error, name string) error {
	if errors.Is(err, ErrIO) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return err
}

// unlinkGoRedis deletes the table name at url (UnlinkRedis).
func unlinkGoRedis(url, name string) error {
	u, err := parseRedisURL(url)
	if err != nil {
		return err
	}
	prefix, err := tablePrefix(name)
	if err != nil {
		return err
	}
	rdb, err := newGoRedisClient(u)
	if err != nil {
		return err
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), u.timeout)
	defer cancel()
	if err := ensureLibrary(ctx, rdb, prefix); err != nil {
		return wrapName(err, name)
	}
	v, err := fcall(ctx, rdb, "es_unlink", prefix)
	if err != nil {
		return wrapName(diagnose(ctx, rdb, err), name)
	}
	st, _, err := replyOf(v)
	if err != nil {
		return err
	}
	return remoteStatusErr(st)
}

// open is es_open with cfgArgs (nil: take the table's config).
func (b *goRedisBackend) open(ctx context.Context, cfgArgs []any) (Config, error) {
	args := []any{b.sid, b.sessionMs}
	if cfgArgs == nil {
		args = append(args, "0")
	} else {
		args = append(args, cfgArgs...)
	}
	v, err := fcall(ctx, b.rdb, "es_open", b.prefix, args...)
	if err != nil {
		return Config{}, diagnose(ctx, b.rdb, err)
	}
	st, r, err := replyOf(v)
	if err != nil {
		return Config{}, err
	}
	if err := remoteStatusErr(st); err != nil {
		return Config{}, err
	}
	var n [6]int64
	for i := range n {
		if n[i], err = intAt(r, i+1); err != nil {
			return Config{}, err
		}
		if n[i] < 0 || n[i] > 1<<32-1 {
			return Config{}, errGarbled
		}
	}
	if n[5] > int64(TwoChoices) {
		return Config{}, errGarbled
	}
	return Config{
		MaxEngines:      int(n[0]),
		MaxTickets:      int(n[1]),
		DefaultCapacity: int(n[2]),
		PendingLease:    time.Duration(n[3]) * time.Millisecond,
		ActiveLease:     time.Duration(n[4]) * time.Millisecond,
		Policy:          Policy(n[5]),
	}, nil
}

// call is one library call: one round trip, plus (rarely) loading the
// library when the server lost it, or creating the table again when it is
// gone (recreate), all within one timeout. A read-only call that fails
// because the connection was closed under it is retried once.
func (b *goRedisBackend) call(fn string, recreate bool, args ...any) (int64, []any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	reloaded, reopened, retry := false, false, readOnlyFuncs[fn]
	for {
		v, err := fcall(ctx, b.rdb, fn, b.prefix, args...)
		if err == nil {
			st, r, err := replyOf(v)
			if err != nil {
				return 0, nil, err
			}
			if st == remoteNoTable && recreate && !reopened {
				reopened = true
				if _, err := b.open(ctx, b.cfgArgs); err != nil {
					return 0, nil, err
				}
				continue
			}
			return st, r, nil
		}
		switch {
		case functionMissing(err) && !reloaded:
			reloaded = true
			if err := loadLibrary(ctx, b.rdb); err != nil {
				return 0, nil, err
			}
		case retry && connDropped(err):
			retry = false
		default:
			return 0, nil, diagnose(ctx, b.rdb, err)
		}
	}
}

// replyOf splits a library reply into its status and the whole array.
func replyOf(v any) (int64, []any, error) {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return 0, nil, errGarbled
	}
	st, ok := a[0].(int64)
	if !ok {
		return 0, nil, errGarbled
	}
	return st, a, nil
}

func intAt(r []any, i int) (int64, error) {
	if i >= len(r) {
		return 0, errGarbled
	}
	n, ok := r[i].(int64)
	if !ok {
		return 0, errGarbled
	}
	return n, nil
}

// remoteStatus is the es_status of a reply status (an unknown one, and
// NO_TABLE after the retry, is ES_ERR_IO: an answer not understood).
func remoteStatus(st int64) int32 {
	switch int32(st) {
	case statusOK, statusNoCapacity, statusInvalid, statusTableFull, statusExists,
		statusNotFound, statusStale, statusCorrupt:
		if int64(int32(st)) == st {
			return int32(st)
		}
	}
	return statusIO
}

func remoteStatusErr(st int64) error {
	s := remoteStatus(st)
	if s == statusIO {
		return fmt.Errorf("%w: %w: status %d", ErrIO, syscall.EPROTO, st)
	}
	return statusErr(s)
}

// errStatus is the es_status of a failed call.
func errStatus(err error) int32 {
	switch {
	case errors.Is(err, ErrCorrupt):
		return statusCorrupt
	case errors.Is(err, ErrInvalid):
		return statusInvalid
	}
	return statusIO
}

// heartbeat renews the session every period until free, then closes it
// (when the last renewal got an answer).
func (b *goRedisBackend) heartbeat(period time.Duration) {
	defer close(b.done)
	t := time.NewTicker(period)
	defer t.Stop()
	reachable := true
	for {
		select {
		case <-b.stop:
			if reachable {
				_, _, _ = b.call("es_close", false, b.sid)
			}
			return
		case <-t.C:
			_, _, err := b.call("es_beat", false, b.sid, b.sessionMs)
			reachable = !errors.Is(err, ErrIO)
		}
	}
}

func (b *goRedisBackend) free() {
	b.stopOnce.Do(func() {
		close(b.stop)
		<-b.done
		_ = b.rdb.Close()
	})
}

func (b *goRedisBackend) shared() bool { return true }

func checkKey(key string) error {
	if key == "" || len(key) > luaKeyMax {
		return ErrInvalid
	}
	return nil
}

func flagArg(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// simple is a call whose reply is a status alone.
func (b *goRedisBackend) simple(fn string, args ...any) error {
	st, _, err := b.call(fn, true, args...)
	if err != nil {
		return err
	}
	return remoteStatusErr(st)
}

func (b *goRedisBackend) addEngine(key string, spec *engineSpec) (Engine, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	st, r, err := b.call("es_add", true, key, u32s(spec.capacity), flagArg(spec.healthy),
		strconv.Itoa(int(spec.priority)), u32s(spec.external), flagArg(spec.draining),
		nonceHex(), strconv.FormatUint(spec.user, 10))
	if err != nil {
		return 0, err
	}
	if err := remoteStatusErr(st); err != nil {
		return 0, err
	}
	if len(r) < 2 {
		return 0, errGarbled
	}
	e, err := parseHandle(r[1], handleEngine)
	return Engine(e), err
}

func (b *goRedisBackend) addOrFind(key string, spec *engineSpec) (Engine, bool, error) {
	for i := 0; i < 8; i++ {
		e, err := b.addEngine(key, spec)
		if err == nil {
			return e, true, nil
		}
		if !errors.Is(err, ErrExists) {
			return 0, false, err
		}
		e, err = b.findEngine(key)
		if errors.Is(err, ErrNotFound) {
			continue // removed between the two calls: add again
		}
		return e, false, err
	}
	return 0, false, ErrExists
}

func (b *goRedisBackend) findEngine(key string) (Engine, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	st, r, err := b.call("es_find", true, key)
	if err != nil {
		return 0, err
	}
	if err := remoteStatusErr(st); err != nil {
		return 0, err
	}
	if len(r) < 2 {
		return 0, errGarbled
	}
	e, err := parseHandle(r[1], handleEngine)
	return Engine(e), err
}

func (b *goRedisBackend) set(e Engine, what, value string) error {
	h, ok := handleHex(uint64(e), handleEngine)
	if !ok {
		return ErrStale
	}
	return b.simple("es_set", h, what, value)
}

func (b *goRedisBackend) setCapacity(e Engine, n uint32) error {
	return b.set(e, "capacity", u32s(n))
}
func (b *goRedisBackend) setHealthy(e Engine, healthy bool) error {
	return b.set(e, "healthy", flagArg(healthy))
}
func (b *goRedisBackend) setPriority(e Engine, prio int32) error {
	return b.set(e, "priority", strconv.Itoa(int(prio)))
}
func (b *goRedisBackend) setExternal(e Engine, n uint32) error {
	return b.set(e, "external", u32s(n))
}

// setUser sets e's user word (tests; as cBackend.setUser).
func (b *goRedisBackend) setUser(e Engine, user uint64) error {
	return b.set(e, "user", strconv.FormatUint(user, 10))
}
func (b *goRedisBackend) drain(e Engine) error   { return b.set(e, "draining", "1") }
func (b *goRedisBackend) undrain(e Engine) error { return b.set(e, "draining", "0") }

func (b *goRedisBackend) remove(e Engine) error {
	h, ok := handleHex(uint64(e), handleEngine)
	if !ok {
		return ErrStale
	}
	return b.simple("es_remove", h)
}

func (b *goRedisBackend) reserveWith(target string) (int32, uint64, Engine) {
	st, r, err := b.call("es_reserve", true, b.sid, b.sessionMs, nonceHex(), target)
	if err != nil {
		return errStatus(err), 0, 0
	}
	s := remoteStatus(st)
	if s != statusOK {
		return s, 0, 0
	}
	if len(r) < 3 {
		return statusIO, 0, 0
	}
	tk, err1 := parseHandle(r[1], handleTicket)
	e, err2 := parseHandle(r[2], handleEngine)
	if err1 != nil || err2 != nil {
		return statusIO, 0, 0
	}
	return statusOK, tk, Engine(e)
}

func (b *goRedisBackend) reserve() (int32, uint64, Engine) { return b.reserveWith("") }

func (b *goRedisBackend) reserveOn(e Engine) (int32, uint64) {
	h, ok := handleHex(uint64(e), handleEngine)
	if !ok {
		return statusStale, 0
	}
	st, tk, _ := b.reserveWith(h)
	return st, tk
}

func (b *goRedisBackend) reserveOnKey(key string) (int32, uint64, Engine) {
	if checkKey(key) != nil {
		return statusInvalid, 0, 0
	}
	return b.reserveWith("k:" + key)
}

func (b *goRedisBackend) ticketOp(fn string, tk uint64) int32 {
	h, ok := handleHex(tk, handleTicket)
	if !ok {
		return statusStale
	}
	st, _, err := b.call(fn, true, h)
	if err != nil {
		return errStatus(err)
	}
	return remoteStatus(st)
}

func (b *goRedisBackend) commit(tk uint64) int32  { return b.ticketOp("es_commit", tk) }
func (b *goRedisBackend) cancel(tk uint64) int32  { return b.ticketOp("es_cancel", tk) }
func (b *goRedisBackend) release(tk uint64) int32 { return b.ticketOp("es_release", tk) }
func (b *goRedisBackend) touch(tk uint64) int32   { return b.ticketOp("es_touch", tk) }
func (b *goRedisBackend) finish(tk uint64) int32  { return b.ticketOp("es_finish", tk) }
func (b *goRedisBackend) releaseAsExternal(tk uint64) int32 {
	return b.ticketOp("es_release_ext", tk)
}

func (b *goRedisBackend) reclaimExpired() (int, error) {
	st, r, err := b.call("es_reclaim", true)
	if err != nil {
		return 0, err
	}
	if err := remoteStatusErr(st); err != nil {
		return 0, err
	}
	n, err := intAt(r, 1)
	return int(n), err
}

func (b *goRedisBackend) ticketCounts() (TicketCounts, error) {
	st, r, err := b.call("es_counts", true)
	if err != nil {
		return TicketCounts{}, err
	}
	if err := remoteStatusErr(st); err != nil {
		return TicketCounts{}, err
	}
	var n [3]int64
	for i := range n {
		if n[i], err = intAt(r, i+1); err != nil {
			return TicketCounts{}, err
		}
	}
	return TicketCounts{Free: int(n[0]), Pending: int(n[1]), Active: int(n[2])}, nil
}

func (b *goRedisBackend) engineStats(e Engine) (EngineStats, error) {
	h, ok := handleHex(uint64(e), handleEngine)
	if !ok {
		return EngineStats{}, ErrStale
	}
	st, r, err := b.call("es_stats", true, h)
	if err != nil {
		return EngineStats{}, err
	}
	if err := remoteStatusErr(st); err != nil {
		return EngineStats{}, err
	}
	if len(r) < 2 {
		return EngineStats{}, errGarbled
	}
	return statsRow(r[1], nil)
}

func (b *goRedisBackend) snapshot(cachedKey func(Engine) string) ([]EngineStats, error) {
	st, r, err := b.call("es_snapshot", true)
	if err != nil {
		return nil, err
	}
	if err := remoteStatusErr(st); err != nil {
		return nil, err
	}
	out := make([]EngineStats, 0, len(r)-1)
	for _, row := range r[1:] {
		s, err := statsRow(row, cachedKey)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// statsRow reads one row {engine, key, capacity, active, pending, external,
// priority, healthy, draining, reserved_total, expired_total, user}.
func statsRow(v any, cachedKey func(Engine) string) (EngineStats, error) {
	row, ok := v.([]any)
	if !ok || len(row) != 12 {
		return EngineStats{}, errGarbled
	}
	e, err := parseHandle(row[0], handleEngine)
	if err != nil {
		return EngineStats{}, err
	}
	key, ok := row[1].(string)
	if !ok {
		return EngineStats{}, errGarbled
	}
	if cachedKey != nil {
		if k := cachedKey(Engine(e)); k == key {
			key = k
		}
	}
	var n [9]int64
	for i := range n {
		if n[i], err = intAt(row, i+2); err != nil {
			return EngineStats{}, err
		}
		if n[i] < -(1<<31) || (i >= 7 && n[i] < 0) {
			return EngineStats{}, errGarbled
		}
	}
	us, ok := row[11].(string)
	if !ok {
		return EngineStats{}, errGarbled
	}
	user, err := strconv.ParseUint(us, 10, 64)
	if err != nil {
		return EngineStats{}, errGarbled
	}
	return EngineStats{
		Engine:        Engine(e),
		Key:           key,
		Capacity:      int(n[0]),
		Active:        int(n[1]),
		Pending:       int(n[2]),
		External:      int(n[3]),
		Priority:      int(n[4]),
		Healthy:       n[5] != 0,
		Draining:      n[6] != 0,
		ReservedTotal: uint64(n[7]),
		ExpiredTotal:  uint64(n[8]),
		User:          user,
	}, nil
}
