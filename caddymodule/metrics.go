package caddymodule

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the handler's Prometheus collectors, registered in Caddy's
// metrics registry under the caddy_scim_ prefix.
type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
	// skippedMembers counts group member ids that named no user or group
	// of the tenant and were left out.
	skippedMembers *prometheus.CounterVec
}

var (
	metricsMu sync.Mutex
	// byRegistry lets every handler of a config share one set of
	// collectors; each config has its own registry.
	byRegistry = map[*prometheus.Registry]*metrics{}
)

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if reg != nil {
		if m, ok := byRegistry[reg]; ok {
			return m, nil
		}
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "scim", Name: "requests_total",
			Help: "SCIM requests by tenant, resource type, method and status code.",
		}, []string{"tenant", "resource", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "caddy", Subsystem: "scim", Name: "request_duration_seconds",
			Help:    "Time to serve a SCIM request, by tenant, resource type and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"tenant", "resource", "method"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "scim", Name: "auth_failures_total",
			Help: "Requests refused for a missing, invalid, revoked or expired token, by tenant.",
		}, []string{"tenant", "reason"}),
		skippedMembers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "scim", Name: "skipped_members_total",
			Help: "Group member ids an IdP sent that name no user or group of the tenant and were left out of the group, by tenant.",
		}, []string{"tenant"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.authFailures, m.skippedMembers} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	byRegistry[reg] = m
	return m, nil
}
