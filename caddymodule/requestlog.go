package caddymodule

import (
	"sync"
	"time"
)

// requestLogSize is how many recent requests are kept per tenant.
const requestLogSize = 25

// requestLog keeps each tenant's last requests in memory, for the
// console's connection check: an admin who presses "Test Connection" in
// the IdP sees it arrive. Kept per process, lost at restart; a tenant
// that never receives a request costs nothing.
type requestLog struct {
	mu      sync.Mutex
	tenants map[string]*requestRing
}

type requestRing struct {
	entries [requestLogSize]loggedRequest
	next    int
	n       int
}

// loggedRequest is one request: never its body or credentials.
type loggedRequest struct {
	time      time.Time
	operation string
	status    int
	reason    string
	clientIP  string
	duration  time.Duration
}

func (l *requestLog) record(tenant string, e loggedRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tenants == nil {
		l.tenants = map[string]*requestRing{}
	}
	r := l.tenants[tenant]
	if r == nil {
		r = &requestRing{}
		l.tenants[tenant] = r
	}
	r.entries[r.next] = e
	r.next = (r.next + 1) % requestLogSize
	r.n = min(r.n+1, requestLogSize)
}

// recent returns the tenant's requests, newest first.
func (l *requestLog) recent(tenant string) []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.tenants[tenant]
	if r == nil {
		return nil
	}
	out := make([]loggedRequest, 0, r.n)
	for i := 1; i <= r.n; i++ {
		out = append(out, r.entries[(r.next-i+requestLogSize)%requestLogSize])
	}
	return out
}

func (l *requestLog) forget(tenant string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.tenants, tenant)
}
