package engineslots

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The URL and name rules of src/remote/url.rs, case for case.
func TestRemoteURL(t *testing.T) {
	u, err := parseRedisURL("redis://127.0.0.1:6380")
	if err != nil || u.sentinel || u.tls || len(u.hosts) != 1 || u.hosts[0] != (hostPort{"127.0.0.1", 6380}) ||
		u.db != 0 || u.username != "" || u.password != "" || u.timeout != time.Second || u.sessionMs != 10000 {
		t.Fatalf("%+v %v", u, err)
	}
	u, err = parseRedisURL("rediss://bob:p%40ss@cache.local/3?timeout_ms=250&session_ms=5000")
	if err != nil || !u.tls || u.hosts[0] != (hostPort{"cache.local", 6379}) || u.username != "bob" ||
		u.password != "p@ss" || u.db != 3 || u.timeout != 250*time.Millisecond || u.sessionMs != 5000 {
		t.Fatalf("%+v %v", u, err)
	}
	if u, err = parseRedisURL("rediss://h?tls_ca=%2Fetc%2Fca.pem"); err != nil || u.tlsCA != "/etc/ca.pem" {
		t.Fatalf("%+v %v", u, err)
	}
	if u, err = parseRedisURL("redis://:secret@[::1]:7000/"); err != nil || u.hosts[0] != (hostPort{"::1", 7000}) ||
		u.username != "" || u.password != "secret" {
		t.Fatalf("%+v %v", u, err)
	}
	u, err = parseRedisURL("redis+sentinel://a:1,b,[::1]:3/mymaster/2?timeout_ms=9")
	if err != nil || !u.sentinel || u.master != "mymaster" || u.db != 2 || u.timeout != 9*time.Millisecond ||
		len(u.hosts) != 3 || u.hosts[0] != (hostPort{"a", 1}) || u.hosts[1] != (hostPort{"b", 26379}) ||
		u.hosts[2] != (hostPort{"::1", 3}) {
		t.Fatalf("%+v %v", u, err)
	}
	for _, bad := range []string{
		"", "127.0.0.1:6379", "http://h:1", "redis://", "redis://h:0", "redis://h:65536", "redis://h:x",
		"redis://h:1,g:2", "redis://h/1/2", "redis://h/db", "redis://h/99999", "redis://h?timeout_ms=0",
		"redis://h?timeout_ms=-1", "redis://h?session_ms=5", "redis://h?bogus=1", "redis://h?timeout_ms",
		"redis://h?tls_ca=/ca.pem", "rediss://h?tls_ca=", "redis://u:%zz@h", "redis://[::1:5",
		"redis+sentinel://h:1", "redis+sentinel://h:1/", "redis+sentinel://h:1/m/x", "redis+sentinel://h:1/m/1/2",
	} {
		if _, err := parseRedisURL(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad, err)
		}
	}
}

func TestRemoteNames(t *testing.T) {
	if p, err := tablePrefix("t-1.a:b"); err != nil || p != "es:{t-1.a:b}" {
		t.Fatalf("%q %v", p, err)
	}
	if p, err := tablePrefix(strings.Repeat("n", 64)); err != nil || len(p) != 64+5 {
		t.Fatalf("%q %v", p, err)
	}
	for _, bad := range []string{"", "a b", "a{b", "a}b", "tab\t", "é", strings.Repeat("n", 65)} {
		if _, err := tablePrefix(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Handles as src/remote/handles.rs: the same strings round trip, anything
// else is refused.
func TestRemoteHandles(t *testing.T) {
	e, err := parseHandle("e9c122d66e900003", handleEngine)
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := handleHex(e, handleEngine); !ok || h != "e9c122d66e900003" {
		t.Fatalf("%q %v", h, ok)
	}
	if _, ok := handleHex(e, handleTicket); ok {
		t.Fatal("an engine handle passed as a ticket")
	}
	tk, err := parseHandle("a99cba2f9d9fffff", handleTicket)
	if h, ok := handleHex(tk, handleTicket); err != nil || !ok || h != "a99cba2f9d9fffff" {
		t.Fatalf("%q %v %v", h, ok, err)
	}
	for _, raw := range []uint64{0, 1, ^uint64(0), 0x0E5E_0001_0002_0003, 0xE000_0000_000F_FFFF} {
		if _, ok := handleHex(raw, handleEngine); ok {
			t.Errorf("%x accepted as an engine", raw)
		}
		if _, ok := handleHex(raw, handleTicket); ok {
			t.Errorf("%x accepted as a ticket", raw)
		}
	}
	for _, bad := range []any{"e9c122d66e90000", "e9c122d66e90000g", "a000000000000001", "", int64(5)} {
		if _, err := parseHandle(bad, handleEngine); !errors.Is(err, ErrIO) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

func TestRemoteNonces(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		h := nonceHex()
		if len(h) != 16 || seen[h] {
			t.Fatalf("nonce %q (repeat: %v)", h, seen[h])
		}
		seen[h] = true
	}
}
