package caddymodule

import (
	"math"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// RateLimit limits a tenant's SCIM requests: at most Requests in any
// Window, refilled steadily (a token bucket holding Requests, refilled at
// Requests per Window). A request over the limit gets 429 Too Many Requests
// with Retry-After (RFC 6585 §4, RFC 9110 §10.2.3).
type RateLimit struct {
	// Requests is how many requests the tenant may make per Window; also
	// how many it may make in a burst.
	Requests int `json:"requests"`
	// Window is the period Requests are counted over.
	Window caddy.Duration `json:"window"`
}

// bucket is a token bucket read through the package clock.
type bucket struct {
	mu       sync.Mutex
	capacity float64
	perSec   float64
	tokens   float64
	last     time.Time
}

func newBucket(n int, window time.Duration) *bucket {
	return &bucket{capacity: float64(n), perSec: float64(n) / window.Seconds(), tokens: float64(n)}
}

func (b *bucket) refill(t time.Time) {
	if !b.last.IsZero() && t.After(b.last) {
		b.tokens = math.Min(b.capacity, b.tokens+t.Sub(b.last).Seconds()*b.perSec)
	}
	if b.last.IsZero() || t.After(b.last) {
		b.last = t
	}
}

// wait reports how long until the bucket holds one token: 0 when it does
// now.
func (b *bucket) wait() time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / b.perSec * float64(time.Second))
}

// take takes one token if there is one, and otherwise reports how long
// until there is.
func (b *bucket) take() (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := now()
	b.refill(t)
	if w := b.wait(); w > 0 {
		return w, false
	}
	b.tokens--
	return 0, true
}

// check reports how long until the bucket holds a token, without taking
// one: 0 when it does now.
func (b *bucket) check() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now())
	return b.wait()
}

// spend takes one token, leaving the bucket at zero when it is empty.
func (b *bucket) spend() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now())
	b.tokens = math.Max(0, b.tokens-1)
}

// retryAfter renders a wait as Retry-After's whole seconds, at least 1.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// Failed client authentications at a tenant's token endpoint are limited to
// failureBurst, refilled at one per failureRefill; beyond that the endpoint
// answers 429 until the bucket refills, so client secrets cannot be guessed
// quickly.
const (
	failureBurst  = 10
	failureRefill = 6 * time.Second
)

// failureLimiter holds one bucket of failed client authentications per
// tenant. It lives with the store, so a config reload does not reset it.
type failureLimiter struct {
	mu      sync.Mutex
	tenants map[string]*bucket
}

func (f *failureLimiter) bucket(tenant string) *bucket {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tenants == nil {
		f.tenants = map[string]*bucket{}
	}
	b := f.tenants[tenant]
	if b == nil {
		b = newBucket(failureBurst, failureBurst*failureRefill)
		f.tenants[tenant] = b
	}
	return b
}
