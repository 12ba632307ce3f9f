// Command goproxy is a reference HTTP streaming reverse proxy built on
// engine-slots: it places each client stream on an engine with room, as
// reported by an orchestrator, and never sends an engine more streams than
// it can take, however many proxies share it and however late the
// orchestrator's counts are.
//
// See README.md for how to run it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// settings are the command line: each flag's default comes from an
// environment variable when set (ESPROXY_ plus the flag name in capitals,
// dashes as underscores: -listen is ESPROXY_LISTEN).
type settings struct {
	Listen, MetricsListen string
	ShutdownTimeout       time.Duration
	Options

	ready func(addrs []net.Addr) // tests: called once listening
}

func parseSettings(args []string, getenv func(string) string) (settings, error) {
	fs := flag.NewFlagSet("goproxy", flag.ContinueOnError)
	s := settings{Options: DefaultOptions()}
	var envErr error
	env := func(name string) (string, bool) {
		key := "ESPROXY_" + envName(name)
		v := getenv(key)
		return v, v != ""
	}
	str := func(p *string, name, usage string) {
		if v, ok := env(name); ok {
			*p = v
		}
		fs.StringVar(p, name, *p, usage+" (env ESPROXY_"+envName(name)+")")
	}
	dur := func(p *time.Duration, name, usage string) {
		if v, ok := env(name); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				envErr = errors.Join(envErr, fmt.Errorf("ESPROXY_%s: %w", envName(name), err))
			}
			*p = d
		}
		fs.DurationVar(p, name, *p, usage+" (env ESPROXY_"+envName(name)+")")
	}
	num := func(p *int, name, usage string) {
		if v, ok := env(name); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				envErr = errors.Join(envErr, fmt.Errorf("ESPROXY_%s: %w", envName(name), err))
			}
			*p = n
		}
		fs.IntVar(p, name, *p, usage+" (env ESPROXY_"+envName(name)+")")
	}

	s.Listen = ":8080"
	s.ShutdownTimeout = 30 * time.Second
	str(&s.Listen, "listen", "address clients connect to")
	str(&s.MetricsListen, "metrics-listen", "separate address for /metrics and /healthz; empty: serve them on -listen")
	str(&s.OrchestratorURL, "orchestrator-url", "URL that lists the engines as JSON (required)")
	dur(&s.RefreshInterval, "refresh-interval", "how often to read the orchestrator")
	dur(&s.ObservedLag, "observed-lag", "how long after a stream starts the orchestrator's count includes it")
	dur(&s.PendingLease, "pending-lease", "a reservation whose upstream has not answered by then is reclaimed")
	dur(&s.ActiveLease, "active-lease", "a stream not touched for that long is reclaimed; 0: never (streams are touched at a third of it)")
	dur(&s.HeaderTimeout, "header-timeout", "how long an upstream has to answer with headers (below -pending-lease)")
	dur(&s.IdleTimeout, "idle-timeout", "abort a stream whose upstream sends nothing for that long; 0: never")
	dur(&s.MaxStreamDuration, "max-stream-duration", "abort a stream that lasts longer; 0: never")
	dur(&s.ShutdownTimeout, "shutdown-timeout", "on SIGTERM/SIGINT, how long running streams may take to finish")
	num(&s.MaxEngines, "max-engines", "engine slots in the table")
	num(&s.MaxTickets, "max-tickets", "ticket slots in the table (streams at once, plus reservations)")
	num(&s.DefaultCapacity, "default-capacity", "capacity of an engine the orchestrator lists without one")

	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if envErr != nil {
		return s, envErr
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if s.OrchestratorURL == "" {
		return s, errors.New("-orchestrator-url (or ESPROXY_ORCHESTRATOR_URL) is required")
	}
	return s, s.Options.validate()
}

// envName is a flag's name as an environment variable suffix.
func envName(flagName string) string {
	b := []byte(flagName)
	for i, c := range b {
		switch {
		case c == '-':
			b[i] = '_'
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s, err := parseSettings(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		log.Error("bad settings", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, s, log); err != nil {
		log.Error("goproxy stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down gracefully: it stops
// accepting, lets running streams finish for up to s.ShutdownTimeout, cuts
// the rest, and closes the table once every stream's ticket is finished.
func run(ctx context.Context, s settings, log *slog.Logger) error {
	s.Options.Logger = log
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := New(s.Options, reg)
	if err != nil {
		return err
	}
	admin := http.NewServeMux()
	admin.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	admin.HandleFunc("GET /healthz", p.Healthz)

	var handler http.Handler = p
	if s.MetricsListen == "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", admin)
		mux.Handle("GET /healthz", admin)
		mux.Handle("/", p)
		handler = mux
	}
	servers := []*http.Server{{Addr: s.Listen, Handler: handler, ReadHeaderTimeout: 10 * time.Second}}
	if s.MetricsListen != "" {
		servers = append(servers, &http.Server{Addr: s.MetricsListen, Handler: admin, ReadHeaderTimeout: 10 * time.Second})
	}

	// Listen before anything runs, so a taken port fails at once.
	var lns []net.Listener
	for _, srv := range servers {
		ln, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			_ = p.Close(context.Background())
			return err
		}
		lns = append(lns, ln)
	}
	p.Start(ctx)
	if s.ready != nil {
		addrs := make([]net.Addr, len(lns))
		for i, ln := range lns {
			addrs[i] = ln.Addr()
		}
		s.ready(addrs)
	}

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		log.Info("listening", "addr", lns[i].Addr().String())
		go func() { errc <- srv.Serve(lns[i]) }()
	}
	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", s.ShutdownTimeout)
	case serveErr = <-errc:
		log.Error("server failed", "err", serveErr)
	}

	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	p.BeginShutdown()
	// Stop accepting and wait for the streams (idle connections close at once).
	if err := servers[0].Shutdown(sctx); err != nil {
		log.Warn("streams still running at the shutdown deadline: cutting them", "err", err)
		_ = servers[0].Close() // cancels their contexts: their handlers finish their tickets
	}
	// Close waits for every handler to have finished its ticket, then
	// closes the table.
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	if err := p.Close(cctx); err != nil {
		log.Error("closing the proxy", "err", err)
	}
	for _, srv := range servers[1:] {
		_ = srv.Shutdown(cctx)
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	log.Info("stopped")
	return serveErr
}
