package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/engine-slots/engine-slots/bindings/engineslots"
)

// EngineReport is one engine as the orchestrator lists it. The endpoint
// answers GET with a JSON array of them, or an object {"engines": [...]}:
//
//	[{"key": "engine-0", "address": "10.0.0.7:8000", "capacity": 4,
//	  "streams": 3, "healthy": true}]
//
// Streams is every stream the engine runs, this proxy's included (the
// table derives the other proxies' share, see engineslots.ObservedTotals).
// Address is host:port or a base URL (http://host:port/prefix). A missing
// capacity is the table's default; a missing "healthy" is healthy.
type EngineReport struct {
	Key      string `json:"key"`
	Address  string `json:"address"`
	Capacity int    `json:"capacity"`
	Streams  int    `json:"streams"`
	Healthy  *bool  `json:"healthy,omitempty"`
	Priority int    `json:"priority,omitempty"`
}

// upstream is an engine's address, attached to it in the table as its
// Value, so a ticket knows where to go without a lookup.
type upstream struct {
	key, address string
	base         *url.URL
}

// orchestrator reads the engine list. Only the refresh loop (and Start,
// before it) uses upstreams.
type orchestrator struct {
	url       string
	client    *http.Client
	upstreams map[string]*upstream // by key, reused while the address stays
	lastOK    atomic.Int64         // unix nanos of the last applied list
}

// fetch reads and decodes the engine list.
func (o *orchestrator) fetch(ctx context.Context) ([]EngineReport, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := o.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
		return nil, fmt.Errorf("orchestrator answered %s", res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return nil, err
	}
	return decodeEngines(body)
}

func decodeEngines(body []byte) ([]EngineReport, error) {
	body = bytes.TrimSpace(body)
	var list []EngineReport
	if len(body) > 0 && body[0] == '{' {
		var wrapped struct {
			Engines *[]EngineReport `json:"engines"`
		}
		if err := json.Unmarshal(body, &wrapped); err != nil {
			return nil, err
		}
		if wrapped.Engines == nil {
			return nil, errors.New(`engine list: object without "engines"`)
		}
		return *wrapped.Engines, nil
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// upstreamFor is key's address as an upstream, the same pointer as long as
// the address stays the same (so Sync sees an unchanged value).
func (o *orchestrator) upstreamFor(key, address string) (*upstream, error) {
	if up := o.upstreams[key]; up != nil && up.address == address {
		return up, nil
	}
	raw := address
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("address %q is not host:port or an http(s) URL", address)
	}
	up := &upstream{key: key, address: address, base: u}
	o.upstreams[key] = up
	return up, nil
}

// refresh reads the orchestrator and applies its list to the table. When
// the orchestrator cannot be read the table keeps the last list: engines
// are not dropped because the orchestrator blinked.
func (p *Proxy) refresh(ctx context.Context) {
	o := p.orch
	reports, err := o.fetch(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.m.refreshes.WithLabelValues("fetch_error").Inc()
			p.log.Warn("reading the orchestrator failed; keeping the last engine list", "err", err)
		}
		return
	}
	infos := make([]engineslots.EngineInfo, 0, len(reports))
	listed := make(map[string]bool, len(reports))
	var bad []error
	for _, r := range reports {
		up, err := o.upstreamFor(r.Key, r.Address)
		if err != nil {
			bad = append(bad, fmt.Errorf("engine %q: %w", r.Key, err))
			continue
		}
		listed[r.Key] = true
		infos = append(infos, engineslots.EngineInfo{
			Key:       r.Key,
			Capacity:  r.Capacity,
			Unhealthy: r.Healthy != nil && !*r.Healthy,
			Priority:  r.Priority,
			Streams:   r.Streams,
			Value:     up,
		})
	}
	for key := range o.upstreams {
		if !listed[key] {
			delete(o.upstreams, key) // tickets keep their own pointer
		}
	}
	// Sync adds new engines, updates changed ones, drains the ones no
	// longer listed (and removes them once their streams are done), and
	// turns each observed total into the other proxies' share.
	err = p.table.Sync(infos, engineslots.ObservedTotals(p.opts.ObservedLag))
	if err = errors.Join(append(bad, err)...); err != nil {
		p.m.refreshes.WithLabelValues("sync_error").Inc()
		p.log.Warn("some engines could not be applied", "err", err)
	} else {
		p.m.refreshes.WithLabelValues("ok").Inc()
	}
	o.lastOK.Store(time.Now().UnixNano())
	if p.opts.PendingLease > 0 || p.opts.ActiveLease > 0 {
		p.table.ReclaimExpired() // win back leaked slots without waiting for a full engine
	}
}
