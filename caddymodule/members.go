package caddymodule

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// skippedLog counts, per tenant, the group member ids an IdP sent that
// named no user or group of the tenant and were left out of their groups,
// and keeps the latest example. It lives in memory with the shared state of
// a storage directory: it survives config reloads and starts again from
// zero when Caddy restarts. The zero value is ready to use.
type skippedLog struct {
	mu      sync.Mutex
	tenants map[string]*skippedMembers
}

// skippedMembers is one tenant's count and latest example.
type skippedMembers struct {
	// Total is how many member ids were skipped since Caddy started.
	Total uint64
	// Group is the id of the group of the latest write that skipped ids.
	Group string
	// Member is one id that write skipped.
	Member string
	// At is when it was skipped.
	At time.Time
}

// record counts the ids a write to a group skipped.
func (l *skippedLog) record(tenant, group string, ids []string, at time.Time) {
	if len(ids) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tenants == nil {
		l.tenants = map[string]*skippedMembers{}
	}
	s := l.tenants[tenant]
	if s == nil {
		s = &skippedMembers{}
		l.tenants[tenant] = s
	}
	s.Total += uint64(len(ids))
	s.Group, s.Member, s.At = group, ids[0], at
}

// get returns a copy of a tenant's record, or nil when nothing was skipped.
func (l *skippedLog) get(tenant string) *skippedMembers {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.tenants[tenant]
	if !ok {
		return nil
	}
	c := *s
	return &c
}

// warning is the tenant status warning for skipped members, or nil.
func (l *skippedLog) warning(tenant string) *tokens.Warning {
	s := l.get(tenant)
	if s == nil {
		return nil
	}
	ids := "member ids that name"
	if s.Total == 1 {
		ids = "member id that names"
	}
	return &tokens.Warning{Code: "unknown_members", Message: fmt.Sprintf(
		"since Caddy started, the IdP referenced %d group %s no user or group of this tenant; they were left out of their groups. "+
			"Latest: group %s, member %s at %s. Check the IdP's provisioning scope: assign those users and groups to the app, "+
			"or remove them from the group in the IdP (this count resets when Caddy restarts)",
		s.Total, ids, s.Group, s.Member, s.At.UTC().Format(time.RFC3339))}
}

// skippedMembers is the engine's OnSkippedMembers hook: it counts the ids
// in the metric and keeps the example for the tenant's status.
func (h *Handler) skippedMembers(_ context.Context, tenant, group string, ids []string) {
	if h.metrics != nil {
		h.metrics.skippedMembers.WithLabelValues(tenant).Add(float64(len(ids)))
	}
	h.app.shared.skipped.record(tenant, group, ids, now())
}

// forget drops what the log holds of a purged tenant.
func (l *skippedLog) forget(tenant string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.tenants, tenant)
}
