package engineslots

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// rawRedis is a plain client on the test server, to look at or disturb it.
func rawRedis(t *testing.T, url string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(url, "redis://"), Protocol: 2})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// The session: renewed by the heartbeat while the table is open (a held
// ticket outlives several session lengths), forgotten at Close when it
// holds nothing.
func TestRedisGoSession(t *testing.T) {
	url := startRedis(t)
	raw := rawRedis(t, url)
	ctx := context.Background()
	cfg := redisConfig()
	cfg.PendingLease, cfg.ActiveLease = 0, 0
	a := openRedisT(t, url+"?session_ms=300", "go-session", &cfg)
	sid := a.b.(*goRedisBackend).sid
	if len(sid) != 16 {
		t.Fatalf("session id %q", sid)
	}
	mustAdd(t, a, "e", 1)
	k := mustReserve(t, a)
	if err := k.Commit(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // four session lengths
	if n := a.ReclaimExpired(); n != 0 {
		t.Fatalf("a live session lost %d tickets", n)
	}
	if _, err := raw.ZScore(ctx, "es:{go-session}:sess", sid).Result(); err != nil {
		t.Fatalf("session not listed: %v", err)
	}
	if err := k.Release(); err != nil {
		t.Fatalf("Release after four session lengths: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ZScore(ctx, "es:{go-session}:sess", sid).Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("closed idle session still listed: %v", err)
	}

	// A table closed while holding a ticket: it comes back one session
	// length later, to the next reclaim.
	b := openRedisT(t, url+"?session_ms=300", "go-session", nil)
	c := openRedisT(t, url, "go-session", nil)
	kb := mustReserve(t, b)
	if err := kb.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reserve(); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("Reserve while the closed table's ticket lives: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	k2, err := c.Reserve() // no room: reclaims the dead session's ticket
	if err != nil {
		t.Fatalf("Reserve after the session died: %v", err)
	}
	if err := k2.Cancel(); err != nil {
		t.Fatal(err)
	}
}

// The library: loaded when missing (also in the middle of a table's life:
// a server that lost its functions), replaced when it is an older minor,
// refused (EPROTO) when it is another major.
func TestRedisGoLibrary(t *testing.T) {
	url := startRedis(t)
	raw := rawRedis(t, url)
	ctx := context.Background()
	cfg := redisConfig()
	a := openRedisT(t, url, "go-lib", &cfg)
	mustAdd(t, a, "e", 1)
	if err := raw.FunctionFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	k, err := a.Reserve() // "Function not found": load, retry once
	if err != nil {
		t.Fatalf("Reserve after FUNCTION FLUSH: %v", err)
	}
	if err := k.Cancel(); err != nil {
		t.Fatal(err)
	}

	older := strings.Replace(luaSource, "local MINOR = 1", "local MINOR = 0", 1)
	if older == luaSource {
		t.Skip("library's MINOR is not 1: update this test")
	}
	if err := raw.FunctionLoadReplace(ctx, older).Err(); err != nil {
		t.Fatal(err)
	}
	b := openRedisT(t, url, "go-lib", nil)
	_ = b
	v, err := raw.FCall(ctx, "es_version", []string{"es:{go-lib}"}).Result()
	if err != nil || v.([]any)[1].(int64) != luaMinor {
		t.Fatalf("older minor not replaced: %v, %v", v, err)
	}

	other := strings.Replace(luaSource, "local MAJOR = 1", "local MAJOR = 2", 1)
	if err := raw.FunctionLoadReplace(ctx, other).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = OpenRedis(url, "go-lib", nil)
	if !errors.Is(err, ErrIO) || !errors.Is(err, syscall.EPROTO) {
		t.Fatalf("OpenRedis with a library of another major: %v", err)
	}
	v, _ = raw.FCall(ctx, "es_version", []string{"es:{go-lib}"}).Result()
	if v.([]any)[0].(int64) != 2 {
		t.Fatalf("another major's library was replaced: %v", v)
	}
}

// Errnos as the C client's: refused, timed out.
func TestRedisGoErrnos(t *testing.T) {
	cfg := redisConfig()
	closed := "redis://127.0.0.1:" + itoa(freePort(t)) + "?timeout_ms=200"
	if _, err := OpenRedis(closed, "x", &cfg); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("closed port: %v", err)
	}
	url := startRedis(t)
	raw := rawRedis(t, url)
	a := openRedisT(t, url+"?timeout_ms=200", "go-errno", &cfg)
	// A paused server (CLIENT PAUSE): no answer within the timeout.
	if err := raw.Do(context.Background(), "CLIENT", "PAUSE", "600", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := a.AddEngine("e", 1); !errors.Is(err, ErrIO) || !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("AddEngine on a hung server: %v", err)
	}
	if d := time.Since(start); d > 450*time.Millisecond {
		t.Fatalf("timeout_ms=200 waited %v", d)
	}
	time.Sleep(700 * time.Millisecond)
	if _, err := a.AddEngine("e2", 1); err != nil {
		t.Fatalf("AddEngine once the server answers again: %v", err)
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{digits[n%10]}, b...)
	}
	return string(b)
}
