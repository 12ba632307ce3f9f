package engineslots

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Failures of the pure-Go remote client, mapped as the Rust/C client maps
// them (src/remote/errors.rs, docs/REMOTE.md "Failures"): every failure to
// get an answer is ErrIO wrapping the errno that says why; keys holding
// something else are ErrCorrupt.

// errGarbled is an answer this client does not understand (EPROTO).
var errGarbled = ioErr(syscall.EPROTO)

func ioErr(errno syscall.Errno) error { return fmt.Errorf("%w: %w", ErrIO, errno) }

// serverErr is the error reply of the server, if err is one.
func serverErr(err error) (string, bool) {
	var re redis.Error
	if errors.As(err, &re) && !errors.Is(err, redis.Nil) {
		return re.Error(), true
	}
	return "", false
}

// functionMissing: the server says the library is not loaded.
func functionMissing(err error) bool {
	s, ok := serverErr(err)
	return ok && strings.Contains(s, "Function not found")
}

func unknownCommand(err error) bool {
	s, ok := serverErr(err)
	return ok && strings.Contains(s, "unknown command")
}

// connDropped: the connection was closed under us (reset, end of stream,
// broken pipe).
func connDropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// remoteErr maps a failed call to the package's errors.
func remoteErr(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := serverErr(err); ok {
		code, _, _ := strings.Cut(s, " ")
		switch {
		case code == "WRONGTYPE" || code == "ESCORRUPT":
			return fmt.Errorf("%w: %s", ErrCorrupt, s)
		case code == "WRONGPASS" || code == "NOAUTH" || code == "NOPERM" ||
			strings.Contains(s, "WRONGPASS") || strings.Contains(s, "NOAUTH"):
			return fmt.Errorf("%w: %w: %s", ErrIO, syscall.EACCES, s)
		case code == "READONLY" || code == "MASTERDOWN" || code == "LOADING" ||
			code == "BUSY" || code == "TRYAGAIN" || code == "CLUSTERDOWN":
			return fmt.Errorf("%w: %w: %s", ErrIO, syscall.EAGAIN, s)
		}
		return fmt.Errorf("%w: %w: %s", ErrIO, syscall.EPROTO, s)
	}
	var errno syscall.Errno
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recErr tls.RecordHeaderError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		errno = syscall.ETIMEDOUT
	case errors.Is(err, syscall.ECONNREFUSED):
		errno = syscall.ECONNREFUSED
	case connDropped(err):
		errno = syscall.ECONNRESET
	case errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) ||
		errors.As(err, &recErr):
		errno = syscall.EIO
	case strings.Contains(err.Error(), "all sentinels") ||
		strings.Contains(err.Error(), "sentinel"):
		errno = syscall.EHOSTUNREACH
	case errors.As(err, &errno):
	default:
		errno = syscall.EIO
	}
	return fmt.Errorf("%w: %w: %v", ErrIO, errno, err)
}

func splitLines(s string) []string { return strings.Split(strings.ReplaceAll(s, "\r", ""), "\n") }

func cutPrefix(s, p string) (string, bool) { return strings.CutPrefix(s, p) }

func firstField(s string, sep byte) string {
	f, _, _ := strings.Cut(strings.TrimSpace(s), string(sep))
	return f
}
