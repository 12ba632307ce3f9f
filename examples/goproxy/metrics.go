package main

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's Prometheus metrics. The per-engine gauges are
// read from the table at scrape time (one Stats call), so an engine that
// left the table leaves the gauges with it.
type metrics struct {
	requests      *prometheus.CounterVec // by outcome
	upstream      *prometheus.CounterVec // by engine and result
	refreshes     *prometheus.CounterVec // by result
	touchFailures prometheus.Counter
	inflight      prometheus.GaugeFunc
	table         *tableCollector
}

func newMetrics(p *Proxy) *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esproxy_requests_total",
			Help: "Client requests by outcome: ok, no_capacity, upstream_error, upstream_aborted, client_gone, timeout, lease_lost, lost_slot, shutdown, error, panic.",
		}, []string{"outcome"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esproxy_upstream_requests_total",
			Help: "Requests sent to an engine, by result: started (answered, stream committed), failed_status (5xx), no_answer (refused, reset), lost_slot, abandoned (client gone or timeout before the answer).",
		}, []string{"engine", "result"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esproxy_orchestrator_refreshes_total",
			Help: "Reads of the orchestrator by result: ok, fetch_error (the last list is kept), sync_error (some engines not applied).",
		}, []string{"result"}),
		touchFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "esproxy_touch_failures_total",
			Help: "Streams cut because the table had reclaimed their slot when they were touched.",
		}),
		inflight: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "esproxy_inflight_requests",
			Help: "Client requests being handled.",
		}, func() float64 { return float64(p.inflight.Load()) }),
		table: newTableCollector(p),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	var errs []error
	for _, c := range []prometheus.Collector{m.requests, m.upstream, m.refreshes, m.touchFailures, m.inflight, m.table} {
		errs = append(errs, reg.Register(c))
	}
	return errors.Join(errs...)
}

// tableCollector exports the table's per-engine stats.
type tableCollector struct {
	p                                                      *Proxy
	capacity, active, pending, external, healthy, draining *prometheus.Desc
	reserved, expired, tickets                             *prometheus.Desc
}

func newTableCollector(p *Proxy) *tableCollector {
	engine := []string{"engine"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("engineslots_"+name, help, labels, nil)
	}
	return &tableCollector{
		p:        p,
		capacity: d("engine_capacity", "Streams the engine takes at once.", engine),
		active:   d("engine_active", "This proxy's committed streams on the engine.", engine),
		pending:  d("engine_pending", "This proxy's reservations on the engine whose upstream has not answered yet.", engine),
		external: d("engine_external", "Streams on the engine counted for others (derived from the orchestrator's total).", engine),
		healthy:  d("engine_healthy", "1 if the orchestrator reports the engine healthy.", engine),
		draining: d("engine_draining", "1 if the engine takes no new streams (no longer listed).", engine),
		reserved: d("engine_reserved_total", "Reservations ever placed on the engine.", engine),
		expired:  d("engine_expired_total", "Tickets on the engine reclaimed by a lease.", engine),
		tickets:  d("tickets", "The table's ticket slots by state.", []string{"state"}),
	}
}

func (c *tableCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.capacity, c.active, c.pending, c.external, c.healthy, c.draining, c.reserved, c.expired, c.tickets} {
		ch <- d
	}
}

func (c *tableCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.p.table
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	gauge := func(d *prometheus.Desc, v float64, label string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, label)
	}
	counter := func(d *prometheus.Desc, v uint64, label string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label)
	}
	for _, s := range t.Stats() {
		gauge(c.capacity, float64(s.Capacity), s.Key)
		gauge(c.active, float64(s.Active), s.Key)
		gauge(c.pending, float64(s.Pending), s.Key)
		gauge(c.external, float64(s.External), s.Key)
		gauge(c.healthy, b(s.Healthy), s.Key)
		gauge(c.draining, b(s.Draining), s.Key)
		counter(c.reserved, s.ReservedTotal, s.Key)
		counter(c.expired, s.ExpiredTotal, s.Key)
	}
	tc := t.TicketCounts()
	gauge(c.tickets, float64(tc.Free), "free")
	gauge(c.tickets, float64(tc.Pending), "pending")
	gauge(c.tickets, float64(tc.Active), "active")
}
