package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engine-slots/engine-slots/bindings/engineslots"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Proxy. DefaultOptions fills in everything but
// OrchestratorURL.
type Options struct {
	// OrchestratorURL answers GET with the engines as JSON (see
	// orchestrator.go for the format).
	OrchestratorURL string
	// RefreshInterval is how often the orchestrator is read.
	RefreshInterval time.Duration
	// ObservedLag is how long after one of our streams starts the
	// orchestrator's count is sure to include it (engineslots.ObservedTotals).
	ObservedLag time.Duration

	// PendingLease: a reservation not committed within it is reclaimed by
	// the table. ActiveLease: a stream neither touched nor finished within
	// it is reclaimed; 0 disables it. The proxy touches each stream every
	// ActiveLease/3, so with the lease set a stream is only reclaimed if
	// this process stops running it (it hangs, or dies while the table is
	// shared).
	PendingLease, ActiveLease time.Duration
	// HeaderTimeout is how long an upstream has to answer with its headers
	// (504 after it). It must be below PendingLease.
	HeaderTimeout time.Duration
	// IdleTimeout aborts a stream whose upstream sends nothing for that
	// long; MaxStreamDuration aborts any stream that lasts longer. 0: never.
	IdleTimeout, MaxStreamDuration time.Duration

	// The table's size: engines, tickets (streams at once plus
	// reservations), and the capacity of an engine listed without one.
	MaxEngines, MaxTickets, DefaultCapacity int

	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Transport carries the upstream requests; nil: a pooled
	// http.Transport that ignores HTTP_PROXY.
	Transport http.RoundTripper
	// OrchestratorClient reads the orchestrator; nil: a client with a 5 s
	// timeout.
	OrchestratorClient *http.Client
}

// DefaultOptions are the defaults of the command line.
func DefaultOptions() Options {
	cfg := engineslots.DefaultConfig()
	return Options{
		RefreshInterval: time.Second,
		ObservedLag:     2 * time.Second,
		PendingLease:    30 * time.Second,
		HeaderTimeout:   10 * time.Second,
		MaxEngines:      cfg.MaxEngines,
		MaxTickets:      cfg.MaxTickets,
		DefaultCapacity: cfg.DefaultCapacity,
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.RefreshInterval <= 0 {
		errs = append(errs, errors.New("refresh interval must be positive"))
	}
	if o.ObservedLag < 0 {
		errs = append(errs, errors.New("observed lag must not be negative"))
	}
	if o.HeaderTimeout <= 0 {
		errs = append(errs, errors.New("header timeout must be positive"))
	}
	if o.PendingLease > 0 && o.HeaderTimeout >= o.PendingLease {
		errs = append(errs, errors.New("header timeout must be below the pending lease, or a slow upstream's reservation is reclaimed before it answers"))
	}
	if o.ActiveLease < 0 || o.PendingLease < 0 || o.IdleTimeout < 0 || o.MaxStreamDuration < 0 {
		errs = append(errs, errors.New("leases and timeouts must not be negative"))
	}
	if o.ActiveLease > 0 && o.ActiveLease < 30*time.Millisecond {
		errs = append(errs, errors.New("active lease below 30ms leaves no time to touch"))
	}
	return errors.Join(errs...)
}

// Proxy is the streaming reverse proxy: an http.Handler that places each
// request on an engine through an engineslots.Table.
type Proxy struct {
	opts  Options
	log   *slog.Logger
	table *engineslots.Table
	rp    *httputil.ReverseProxy
	m     *metrics
	orch  *orchestrator

	// inflight counts the handlers that may hold a ticket; closing is set
	// once Close started. A handler adds itself before it reads closing
	// and Close sets closing before it waits for inflight to drop to 0,
	// so no handler can reserve on a closed-and-forgotten table.
	inflight atomic.Int64
	closing  atomic.Bool
	shutdown atomic.Bool // BeginShutdown was called

	startOnce   sync.Once
	stopRefresh context.CancelFunc
	refreshDone chan struct{}
	closeOnce   sync.Once
	closeErr    error
}

// New creates the proxy and its table and registers its metrics on reg.
// Call Start to begin reading the orchestrator and Close when done.
func New(opts Options, reg prometheus.Registerer) (*Proxy, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg := engineslots.DefaultConfig()
	cfg.MaxEngines = opts.MaxEngines
	cfg.MaxTickets = opts.MaxTickets
	cfg.DefaultCapacity = opts.DefaultCapacity
	cfg.PendingLease = opts.PendingLease
	cfg.ActiveLease = opts.ActiveLease
	table, err := engineslots.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("engine table: %w", err)
	}
	p := &Proxy{opts: opts, log: log, table: table}
	p.m = newMetrics(p)
	if err := p.m.register(reg); err != nil {
		_ = table.Close()
		return nil, err
	}
	transport := opts.Transport
	if transport == nil {
		transport = &http.Transport{
			Proxy:                 nil, // upstreams are reached directly
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true, // pass the client's encoding through
		}
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      transport,
		FlushInterval:  -1, // flush every write: this is a streaming proxy
		ModifyResponse: p.upstreamAnswered,
		ErrorHandler:   p.upstreamFailed,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	client := opts.OrchestratorClient
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	p.orch = &orchestrator{url: opts.OrchestratorURL, client: client, upstreams: map[string]*upstream{}}
	return p, nil
}

// Start reads the orchestrator once (so the proxy can serve at once when
// it answers) and then every RefreshInterval until Close or ctx is done.
func (p *Proxy) Start(ctx context.Context) {
	p.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(ctx)
		p.stopRefresh = cancel
		p.refreshDone = make(chan struct{})
		p.refresh(ctx)
		go p.refreshLoop(ctx)
	})
}

func (p *Proxy) refreshLoop(ctx context.Context) {
	defer close(p.refreshDone)
	t := time.NewTicker(p.opts.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.refresh(ctx)
		}
	}
}

// BeginShutdown makes /healthz fail so load balancers stop sending new
// clients; running streams go on.
func (p *Proxy) BeginShutdown() { p.shutdown.Store(true) }

// Close stops the refresh loop, waits until every handler has finished its
// ticket (or ctx is done), then closes the table. Cut the streams first
// (http.Server.Shutdown, then Close) or this waits for them.
func (p *Proxy) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.shutdown.Store(true)
		p.closing.Store(true)
		if p.stopRefresh != nil {
			p.stopRefresh()
			<-p.refreshDone
		}
		// Closing the table under requests still running is safe too
		// (their ticket calls return ErrClosed), so on ctx's end it goes on.
		p.closeErr = p.waitIdle(ctx)
		if err := p.table.Close(); err != nil && p.closeErr == nil {
			p.closeErr = err
		}
	})
	return p.closeErr
}

// waitIdle waits until no handler runs, or ctx is done.
func (p *Proxy) waitIdle(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for p.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d requests still running: %w", p.inflight.Load(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Healthz answers 200 while the proxy has a recent engine list and is not
// shutting down, 503 otherwise.
func (p *Proxy) Healthz(w http.ResponseWriter, _ *http.Request) {
	last := p.orch.lastOK.Load()
	fresh := last != 0 && time.Since(time.Unix(0, last)) < 3*p.opts.RefreshInterval+5*time.Second
	switch {
	case p.shutdown.Load():
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	case !fresh:
		http.Error(w, "no recent engine list from the orchestrator", http.StatusServiceUnavailable)
	default:
		_, _ = w.Write([]byte("ok\n"))
	}
}

// Why a stream's context was cancelled by the proxy itself.
var (
	errHeaderTimeout = errors.New("upstream did not answer in time")
	errIdleTimeout   = errors.New("upstream sent nothing for too long")
	errMaxDuration   = errors.New("stream exceeded its maximum duration")
	errLeaseLost     = errors.New("the table reclaimed the stream's slot")
)

// Request outcomes, the label of esproxy_requests_total.
const (
	outcomeOK              = "ok"               // the upstream stream ran to its end
	outcomeNoCapacity      = "no_capacity"      // 503: no engine had room
	outcomeUpstreamError   = "upstream_error"   // the upstream failed to start (refused, 5xx, broken)
	outcomeUpstreamAborted = "upstream_aborted" // the upstream broke off a started stream
	outcomeClientGone      = "client_gone"      // the client left first
	outcomeTimeout         = "timeout"          // header, idle or duration limit
	outcomeLeaseLost       = "lease_lost"       // the table took the slot back (a hang)
	outcomeShutdown        = "shutdown"         // refused or cut while shutting down
	outcomeLostSlot        = "lost_slot"        // the upstream answered after the table took the slot back
	outcomeError           = "error"            // the table refused (every ticket slot in use)
	outcomePanic           = "panic"            // a bug, recovered
)

// stream is one client request's state, shared by ServeHTTP and the
// ReverseProxy hooks (which all run on the handler's goroutine).
type stream struct {
	tk     *engineslots.Ticket
	up     *upstream
	client context.Context // the server's: done when the client leaves
	ctx    context.Context
	cancel context.CancelCauseFunc
	w      *respWriter

	headerTimer, maxTimer, idleTimer *time.Timer
	touchStop, touchDone             chan struct{}

	status      int   // the upstream's status, 0 if it never answered
	committed   bool  // Commit succeeded
	commitErr   error // Commit failed: the table no longer counts it
	upstreamErr error // the round trip failed (before any header)
	bodyErr     error // reading the upstream's body failed
}

type streamKey struct{}

// ServeHTTP proxies one request: reserve a slot, stream from the engine
// that holds it, finish the ticket on every way out.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.inflight.Add(1)
	defer p.inflight.Add(-1)
	if p.closing.Load() {
		p.reject(w, outcomeShutdown, http.StatusServiceUnavailable, "shutting down")
		return
	}

	tk, err := p.table.Reserve()
	switch {
	case err == nil:
	case errors.Is(err, engineslots.ErrNoCapacity):
		w.Header().Set("Retry-After", "1")
		p.reject(w, outcomeNoCapacity, http.StatusServiceUnavailable, "no engine has room")
		return
	case errors.Is(err, engineslots.ErrClosed):
		p.reject(w, outcomeShutdown, http.StatusServiceUnavailable, "shutting down")
		return
	default: // ErrTableFull: every ticket slot is in use (raise -max-tickets)
		p.log.Warn("reserve failed", "err", err)
		p.reject(w, outcomeError, http.StatusServiceUnavailable, "no slot")
		return
	}

	ctx, cancel := context.WithCancelCause(r.Context())
	st := &stream{tk: tk, client: r.Context(), ctx: ctx, cancel: cancel, w: &respWriter{ResponseWriter: w}}
	defer func() {
		rec := recover()
		outcome := p.end(st, rec)
		if rec == nil {
			return
		}
		if outcome == outcomePanic {
			p.log.Error("panic while proxying", "panic", rec, "engine", tk.Key(), "stack", string(debug.Stack()))
			if !st.w.wroteHeader && answer(w, http.StatusInternalServerError) {
				return
			}
		}
		// The response is half written: abort the connection so the
		// client sees a broken stream, not a short one (net/http does not
		// log this value).
		panic(http.ErrAbortHandler)
	}()

	up, ok := tk.Value().(*upstream)
	if !ok || up == nil {
		st.upstreamErr = fmt.Errorf("engine %q has no address", tk.Key())
		http.Error(st.w, "engine has no address", http.StatusBadGateway)
		return
	}
	st.up = up
	st.headerTimer = time.AfterFunc(p.opts.HeaderTimeout, func() { cancel(errHeaderTimeout) })
	if d := p.opts.MaxStreamDuration; d > 0 {
		st.maxTimer = time.AfterFunc(d, func() { cancel(errMaxDuration) })
	}
	p.rp.ServeHTTP(st.w, r.WithContext(context.WithValue(ctx, streamKey{}, st)))
}

// end runs on every way out of ServeHTTP: it stops the stream's timers
// and touches, finishes the ticket (cancel if pending, release if active)
// and counts the outcome.
func (p *Proxy) end(st *stream, rec any) string {
	if st.touchStop != nil {
		close(st.touchStop)
		<-st.touchDone // no Touch after Finish
	}
	for _, t := range []*time.Timer{st.headerTimer, st.maxTimer, st.idleTimer} {
		if t != nil {
			t.Stop()
		}
	}
	cause := context.Cause(st.ctx)
	st.cancel(nil)
	if err := st.tk.Finish(); err != nil && !errors.Is(err, engineslots.ErrStale) {
		// ErrStale: the table had already taken it back (lease, removed
		// engine); nothing was left to finish.
		p.log.Warn("finish failed", "engine", st.tk.Key(), "err", err)
	}

	outcome := outcomeOK
	switch {
	case rec != nil && rec != http.ErrAbortHandler:
		outcome = outcomePanic
	case errors.Is(cause, errHeaderTimeout), errors.Is(cause, errIdleTimeout), errors.Is(cause, errMaxDuration):
		outcome = outcomeTimeout
	case errors.Is(cause, errLeaseLost):
		outcome = outcomeLeaseLost
	case st.client.Err() != nil || st.w.writeErr != nil:
		outcome = outcomeClientGone
		if p.shutdown.Load() {
			outcome = outcomeShutdown // cut at the shutdown deadline
		}
	case st.commitErr != nil:
		outcome = outcomeLostSlot
	case st.upstreamErr != nil, st.status >= 500:
		outcome = outcomeUpstreamError
	case st.bodyErr != nil, rec == http.ErrAbortHandler:
		outcome = outcomeUpstreamAborted
	}
	p.m.requests.WithLabelValues(outcome).Inc()
	if st.up != nil {
		result := "started"
		switch {
		case st.committed:
		case st.commitErr != nil:
			result = "lost_slot" // answered, but the table had taken the slot back
		case st.status >= 500:
			result = "failed_status"
		case st.upstreamErr != nil && st.client.Err() == nil && cause == nil:
			result = "no_answer" // refused, reset, closed: the engine never answered
		default:
			result = "abandoned" // client gone or timed out before headers
		}
		p.m.upstream.WithLabelValues(st.up.key, result).Inc()
	}
	return outcome
}

// answer writes a plain error response after a panic, unless writing
// panics too; it reports whether it wrote.
func answer(w http.ResponseWriter, code int) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	http.Error(w, http.StatusText(code), code)
	return true
}

func (p *Proxy) reject(w http.ResponseWriter, outcome string, code int, msg string) {
	p.m.requests.WithLabelValues(outcome).Inc()
	http.Error(w, msg, code)
}

// rewrite points the outgoing request at the reserved engine.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(streamKey{}).(*stream)
	pr.SetURL(st.up.base)
	pr.SetXForwarded()
}

// upstreamAnswered runs when the upstream's headers arrive: the stream
// started, so the ticket is committed (a 5xx is a failure to start: the
// ticket stays pending and is cancelled at the end).
func (p *Proxy) upstreamAnswered(res *http.Response) error {
	st := res.Request.Context().Value(streamKey{}).(*stream)
	st.headerTimer.Stop()
	st.status = res.StatusCode
	if res.StatusCode >= 500 {
		return nil
	}
	if err := st.tk.Commit(); err != nil {
		// The table took the reservation back (its pending lease ran out,
		// or its engine was removed): it no longer counts this stream, so
		// serving it could overload the engine. Give up on it.
		st.commitErr = err
		return fmt.Errorf("commit: %w", err)
	}
	st.committed = true
	// An upgraded connection (101, WebSocket...) is a stream too: it holds
	// its slot until ReverseProxy is done with it. Its body must stay the
	// transport's read-write one, so it gets no wrapper (no idle timer).
	if res.StatusCode != http.StatusSwitchingProtocols {
		body := &upstreamBody{ReadCloser: res.Body, st: st}
		if d := p.opts.IdleTimeout; d > 0 {
			body.idle = d
			st.idleTimer = time.AfterFunc(d, func() { st.cancel(errIdleTimeout) })
		}
		res.Body = body
	}
	if lease := p.opts.ActiveLease; lease > 0 {
		st.touchStop, st.touchDone = make(chan struct{}), make(chan struct{})
		go p.touch(st, lease/3)
	}
	return nil
}

// touch keeps an active stream's lease alive until end stops it. If the
// table already reclaimed the slot, the stream is cut: the table no longer
// counts it, so it must not go on.
func (p *Proxy) touch(st *stream, every time.Duration) {
	defer close(st.touchDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-st.touchStop:
			return
		case <-t.C:
			if err := st.tk.Touch(); err != nil {
				p.m.touchFailures.Inc()
				st.cancel(errLeaseLost)
				return
			}
		}
	}
}

// upstreamFailed answers the client when the upstream could not be reached
// or the stream could not be committed.
func (p *Proxy) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	st := r.Context().Value(streamKey{}).(*stream)
	if st.commitErr == nil {
		st.upstreamErr = err
	}
	cause := context.Cause(st.ctx)
	switch {
	case st.client.Err() != nil:
		// Nobody to answer.
	case errors.Is(cause, errHeaderTimeout):
		http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
	case st.commitErr != nil:
		http.Error(w, "stream slot lost", http.StatusServiceUnavailable)
	default:
		p.log.Debug("upstream failed", "engine", st.up.key, "err", err)
		http.Error(w, "upstream failed", http.StatusBadGateway)
	}
}

// upstreamBody records how reading the upstream's body ended and feeds the
// idle timer.
type upstreamBody struct {
	io.ReadCloser
	st   *stream
	idle time.Duration
}

func (b *upstreamBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if n > 0 && b.idle > 0 {
		b.st.idleTimer.Reset(b.idle)
	}
	if err != nil && !errors.Is(err, io.EOF) && b.st.bodyErr == nil {
		b.st.bodyErr = err
	}
	return n, err
}

// respWriter records whether the response started and whether writing to
// the client failed. Unwrap lets http.ResponseController (which
// ReverseProxy flushes through) reach the server's writer.
type respWriter struct {
	http.ResponseWriter
	wroteHeader bool
	writeErr    error
}

func (w *respWriter) WriteHeader(code int) {
	if code >= 200 {
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(b)
	if err != nil && w.writeErr == nil {
		w.writeErr = err
	}
	return n, err
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
