package engineslots

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The URL of a remote table's server and the table name, with exactly the
// rules of the Rust/C client (src/remote/url.rs):
//
//	redis://[user:password@]host[:port][/db]
//	rediss://[user:password@]host[:port][/db]                  (TLS)
//	redis+sentinel://[user:password@]host[:port][,host[:port]...]/master-name[/db]
//
// and ?timeout_ms=N (1..3600000, default 1000), ?session_ms=N
// (100..86400000, default 10000), and on rediss:// ?tls_ca=PATH. Anything
// else is ErrInvalid.

const (
	defaultTimeoutMs = 1000
	defaultSessionMs = 10000
	tableNameMax     = 64
)

type hostPort struct {
	host string
	port uint16
}

type redisURL struct {
	tls       bool
	sentinel  bool
	hosts     []hostPort // one server, or the Sentinels
	master    string
	username  string
	password  string
	db        int
	timeout   time.Duration
	sessionMs uint32
	tlsCA     string
}

func parseRedisURL(url string) (*redisURL, error) {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return nil, ErrInvalid
	}
	var query string
	hasQuery := false
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest, query, hasQuery = rest[:i], rest[i+1:], true
	}
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	hosts := authority
	u := &redisURL{timeout: defaultTimeoutMs * time.Millisecond, sessionMs: defaultSessionMs}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo := authority[:i]
		hosts = authority[i+1:]
		if user, pass, ok := strings.Cut(userinfo, ":"); ok {
			var err error
			if u.username, err = percentDecode(user); err != nil {
				return nil, err
			}
			if u.password, err = percentDecode(pass); err != nil {
				return nil, err
			}
		} else {
			var err error
			if u.username, err = percentDecode(userinfo); err != nil {
				return nil, err
			}
		}
	}
	var segments []string
	if path != "" && path != "/" {
		segments = strings.Split(path[1:], "/")
	}
	switch scheme {
	case "redis", "rediss":
		hs, err := hostList(hosts, 6379)
		if err != nil {
			return nil, err
		}
		if len(hs) != 1 || len(segments) > 1 {
			return nil, ErrInvalid
		}
		u.hosts, u.tls = hs, scheme == "rediss"
		if len(segments) == 1 {
			if u.db, err = dbNumber(segments[0]); err != nil {
				return nil, err
			}
		}
	case "redis+sentinel":
		hs, err := hostList(hosts, 26379)
		if err != nil {
			return nil, err
		}
		if len(segments) == 0 || len(segments) > 2 {
			return nil, ErrInvalid
		}
		if u.master, err = percentDecode(segments[0]); err != nil || u.master == "" {
			return nil, ErrInvalid
		}
		u.hosts, u.sentinel = hs, true
		if len(segments) == 2 {
			if u.db, err = dbNumber(segments[1]); err != nil {
				return nil, err
			}
		}
	default:
		return nil, ErrInvalid
	}
	if hasQuery {
		for _, pair := range strings.Split(query, "&") {
			k, v, ok := strings.Cut(pair, "=")
			if !ok {
				return nil, ErrInvalid
			}
			if k == "tls_ca" && scheme == "rediss" && v != "" {
				ca, err := percentDecode(v)
				if err != nil {
					return nil, err
				}
				u.tlsCA = ca
				continue
			}
			n, err := strconv.ParseUint(strings.TrimPrefix(v, "+"), 10, 32)
			if err != nil || strings.HasPrefix(v, "+-") {
				return nil, ErrInvalid
			}
			switch {
			case k == "timeout_ms" && n >= 1 && n <= 3_600_000:
				u.timeout = time.Duration(n) * time.Millisecond
			case k == "session_ms" && n >= 100 && n <= 86_400_000:
				u.sessionMs = uint32(n)
			default:
				return nil, ErrInvalid
			}
		}
	}
	return u, nil
}

// tablePrefix is the key prefix of table name, es:{name}; ErrInvalid
// unless name is 1 to 64 bytes of printable ASCII other than space, { and }.
func tablePrefix(name string) (string, error) {
	if len(name) < 1 || len(name) > tableNameMax {
		return "", ErrInvalid
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if b <= ' ' || b > '~' || b == '{' || b == '}' {
			return "", ErrInvalid
		}
	}
	return "es:{" + name + "}", nil
}

func dbNumber(s string) (int, error) {
	if s == "" {
		return 0, ErrInvalid
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrInvalid
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, ErrInvalid
	}
	return int(n), nil
}

// hostList parses host[:port][,host[:port]...], IPv6 hosts in brackets.
func hostList(s string, defaultPort uint16) ([]hostPort, error) {
	var out []hostPort
	for _, h := range strings.Split(s, ",") {
		var host, port string
		hasPort := false
		if v6, ok := strings.CutPrefix(h, "["); ok {
			hh, rest, ok := strings.Cut(v6, "]")
			if !ok {
				return nil, ErrInvalid
			}
			host = hh
			if rest != "" {
				p, ok := strings.CutPrefix(rest, ":")
				if !ok {
					return nil, ErrInvalid
				}
				port, hasPort = p, true
			}
		} else {
			host, port, hasPort = strings.Cut(h, ":")
		}
		if host == "" || strings.ContainsFunc(host, func(c rune) bool {
			return unicode.IsSpace(c) || strings.ContainsRune("/?#@[]", c)
		}) {
			return nil, ErrInvalid
		}
		p := defaultPort
		if hasPort {
			if port == "" {
				return nil, ErrInvalid
			}
			for i := 0; i < len(port); i++ {
				if port[i] < '0' || port[i] > '9' {
					return nil, ErrInvalid
				}
			}
			n, err := strconv.ParseUint(port, 10, 16)
			if err != nil {
				return nil, ErrInvalid
			}
			p = uint16(n)
		}
		if p == 0 {
			return nil, ErrInvalid
		}
		out = append(out, hostPort{host, p})
	}
	return out, nil
}

// percentDecode decodes %XX escapes; the result must be UTF-8.
func percentDecode(s string) (string, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		if s[i] == '%' {
			if i+3 > len(s) {
				return "", ErrInvalid
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil || s[i+1] == '+' || s[i+1] == '-' {
				return "", ErrInvalid
			}
			out = append(out, byte(n))
			i += 3
		} else {
			out = append(out, s[i])
			i++
		}
	}
	if !utf8.Valid(out) {
		return "", ErrInvalid
	}
	return string(out), nil
}
