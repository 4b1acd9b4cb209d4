package caddymodule

import (
	"context"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// tenantCollector reports, at scrape time, the state of every tenant of one
// config: token expiry, the IdP's last request, delivery lag, dead letters
// and backend restarts. Reading the state when scraped, rather than
// updating gauges on events, makes every series present from the start.
// A scrape costs a few key reads per tenant.
type tenantCollector struct {
	app *App
}

var (
	descTokenExpiry = prometheus.NewDesc("caddy_scim_token_expiry_timestamp_seconds",
		"When the tenant's current token stops being accepted (expiry, or an earlier revocation), in Unix seconds; 0 when the tenant has no token.",
		[]string{"tenant"}, nil)
	descLastRequest = prometheus.NewDesc("caddy_scim_last_request_timestamp_seconds",
		"When an IdP last made an authenticated request to the tenant, in Unix seconds; 0 when none has.",
		[]string{"tenant"}, nil)
	descLagEvents = prometheus.NewDesc("caddy_scim_delivery_lag_events",
		"Changes of the tenant waiting for delivery to its backend.",
		[]string{"tenant"}, nil)
	descLagSeconds = prometheus.NewDesc("caddy_scim_delivery_lag_seconds",
		"How long the oldest change waiting for delivery to the tenant's backend has waited; 0 when none waits.",
		[]string{"tenant"}, nil)
	descDeadLetters = prometheus.NewDesc("caddy_scim_dead_letters",
		"Changes the tenant's backend refused, waiting for the operator to replay them.",
		[]string{"tenant"}, nil)
	descRestarts = prometheus.NewDesc("caddy_scim_backend_restarts_total",
		"Times the tenant's backend process exited and was started again.",
		[]string{"tenant", "backend"}, nil)
)

// registerTenantCollector registers the collector of app's tenants in
// reg, the registry of app's config; each config has its own, so a reload
// registers a new collector in a new registry.
func registerTenantCollector(reg *prometheus.Registry, app *App) error {
	if reg == nil {
		return nil
	}
	return reg.Register(&tenantCollector{app: app})
}

// Describe implements prometheus.Collector.
func (c *tenantCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTokenExpiry, descLastRequest, descLagEvents, descLagSeconds, descDeadLetters, descRestarts} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It reports nothing before the
// config has started (the store is not open yet) or after its store was
// closed; a tenant whose state can't be read is left out of the scrape.
func (c *tenantCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.app
	if a.ready == nil || !a.ready.Load() {
		return
	}
	s := a.shared
	// Holding openMu keeps the store open for the whole scrape.
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if !s.opened {
		return
	}
	names := a.tenantNames()
	sort.Strings(names)
	ctx := context.Background()
	for _, name := range names {
		st, err := s.tokens.Status(ctx, name)
		if err != nil {
			a.logger.Debug("metrics: reading token status", zapTenant(name), zap.Error(err))
			continue
		}
		expiry := 0.0
		if tok := st.Token; tok != nil {
			end := tok.ExpiresAt
			if tok.RevokedAt != nil && tok.RevokedAt.Before(end) {
				end = *tok.RevokedAt
			}
			expiry = float64(end.Unix())
		}
		ch <- prometheus.MustNewConstMetric(descTokenExpiry, prometheus.GaugeValue, expiry, name)
		last := 0.0
		if st.LastRequest != nil {
			last = float64(st.LastRequest.Unix())
		}
		ch <- prometheus.MustNewConstMetric(descLastRequest, prometheus.GaugeValue, last, name)

		reg := a.tenant(name)
		if reg == nil || reg.tenant.Backend == nil {
			continue
		}
		ds, err := s.deliverer.Status(ctx, name)
		if err != nil {
			a.logger.Debug("metrics: reading delivery status", zapTenant(name), zap.Error(err))
		} else {
			ch <- prometheus.MustNewConstMetric(descLagEvents, prometheus.GaugeValue, float64(ds.Lag), name)
			ch <- prometheus.MustNewConstMetric(descLagSeconds, prometheus.GaugeValue, ds.LagTime.Seconds(), name)
			ch <- prometheus.MustNewConstMetric(descDeadLetters, prometheus.GaugeValue, float64(ds.DeadLetters), name)
		}
		backend, restarts := reg.tenant.Backend.Name, uint64(0)
		if h := s.host(name); h != nil {
			if d := h.proc.description(); d != nil && d.Name != "" {
				backend = d.Name
			}
			restarts = h.proc.restarts.Load()
		}
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(restarts), name, backend)
	}
}
