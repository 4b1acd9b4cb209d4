// Package requestlog keeps each tenant's latest SCIM requests for the
// console's connection check: an admin who presses "Test Connection" in
// the IdP sees the request arrive, with its status and why it failed.
// Never a body or a credential.
//
// On its own a Log keeps them in memory, per process. With a Backing (a
// database every instance shares) each process appends what it served
// in the background, a few times a second, and Recent reads every
// instance's requests from the Backing, merged with this process's
// requests not yet appended: an admin sees the IdP's requests whichever
// instance served them.
package requestlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Size is how many requests are kept per tenant.
const Size = 25

// Entry is one request.
type Entry struct {
	Time time.Time
	// Operation is e.g. "create User", "list Users", "discovery".
	Operation string
	Status    int
	// Reason says why a 401 was refused: missing, not_bearer, invalid,
	// revoked, expired, multiple_headers.
	Reason string
	// ClientIP is the address the request came from.
	ClientIP string
	// Duration is how long it took.
	Duration time.Duration
}

// Row is an entry as a Backing keeps it: Origin names the process that
// served it (its instance and a random part drawn at start) and N counts
// that process's requests, so that Origin and N together name one
// request.
type Row struct {
	Tenant string
	Origin string
	N      uint64
	Entry  Entry
}

// Backing keeps rows where every instance reads them.
type Backing interface {
	// AppendRequests keeps rows and then drops each of their tenants'
	// rows but the keep newest.
	AppendRequests(ctx context.Context, rows []Row, keep int) error
	// LatestRequests returns the tenant's n newest rows, newest first.
	LatestRequests(ctx context.Context, tenant string, n int) ([]Row, error)
}

// Log is the tenants' latest requests. The zero Log keeps them in
// memory; Share puts them in a Backing.
type Log struct {
	mu sync.Mutex
	// local is each tenant's requests, without a Backing.
	local map[string]*ring
	// With a Backing: pending are the rows not yet given to it, and
	// inflight those being given now; forgotten are the tenants
	// forgotten meanwhile, whose inflight rows a failed append drops.
	pending, inflight map[string]*ring
	forgotten         map[string]bool
	// spare are rings an append emptied, for the next pending rows.
	spare []*ring
	n     uint64

	backing Backing
	origin  string
	logger  *zap.Logger
	stop    chan struct{}
	done    chan struct{}
}

// ring is a tenant's newest Size rows, kept without allocating.
type ring struct {
	rows    [Size]Row
	next, n int
}

func (r *ring) push(row Row) {
	r.rows[r.next] = row
	r.next = (r.next + 1) % Size
	r.n = min(r.n+1, Size)
}

// appendTo appends the rows to out, oldest first.
func (r *ring) appendTo(out []Row) []Row {
	if r == nil {
		return out
	}
	for i := r.n; i >= 1; i-- {
		out = append(out, r.rows[(r.next-i+Size)%Size])
	}
	return out
}

// maxSpare bounds the emptied rings a Log keeps for reuse.
const maxSpare = 1024

// into pushes row onto the tenant's ring in m, taking a spare ring or
// making one if needed.
func (l *Log) into(m map[string]*ring, tenant string, row Row) {
	r := m[tenant]
	if r == nil {
		if n := len(l.spare); n > 0 {
			r, l.spare = l.spare[n-1], l.spare[:n-1]
		} else {
			r = new(ring)
		}
		m[tenant] = r
	}
	r.push(row)
}

// Record keeps e as the tenant's newest request.
func (l *Log) Record(tenant string, e Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	r := Row{Tenant: tenant, Origin: l.origin, N: l.n, Entry: e}
	if l.backing != nil {
		l.into(l.pending, tenant, r)
		return
	}
	if l.local == nil {
		l.local = map[string]*ring{}
	}
	l.into(l.local, tenant, r)
}

// Recent returns the tenant's latest requests, newest first: this
// process's alone, or with a Backing every instance's.
func (l *Log) Recent(ctx context.Context, tenant string) ([]Entry, error) {
	l.mu.Lock()
	backing := l.backing
	// With a Backing, only what it may not have yet.
	rows := l.local[tenant].appendTo(nil)
	rows = l.inflight[tenant].appendTo(rows)
	rows = l.pending[tenant].appendTo(rows)
	l.mu.Unlock()
	if backing != nil {
		stored, err := backing.LatestRequests(ctx, tenant, Size)
		if err != nil {
			return nil, err
		}
		rows = append(rows, stored...)
	}
	slices.SortStableFunc(rows, func(a, b Row) int {
		if c := b.Entry.Time.Compare(a.Entry.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.Origin, b.Origin); c != 0 {
			return c
		}
		return cmpUint(b.N, a.N)
	})
	out := make([]Entry, 0, min(len(rows), Size))
	seen := make(map[key]bool, len(rows))
	for _, r := range rows {
		k := key{r.Origin, r.N}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, r.Entry)
		if len(out) == Size {
			break
		}
	}
	return out, nil
}

type key struct {
	origin string
	n      uint64
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Forget drops what this process holds of a purged tenant; the Backing
// drops its rows with the tenant's other data.
func (l *Log) Forget(tenant string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.local, tenant)
	delete(l.pending, tenant)
	if _, flying := l.inflight[tenant]; flying {
		l.forgotten[tenant] = true
	}
}

// Share keeps the log in b from now on, appending every interval in the
// background until Close; instance names this process in the rows. Call
// it once, before requests are recorded.
func (l *Log) Share(b Backing, instance string, every time.Duration, logger *zap.Logger) {
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	l.mu.Lock()
	l.backing, l.origin, l.logger = b, instance+"/"+hex.EncodeToString(nonce[:]), logger
	l.pending, l.inflight, l.forgotten = map[string]*ring{}, map[string]*ring{}, map[string]bool{}
	stop, done := make(chan struct{}), make(chan struct{})
	l.stop, l.done = stop, done
	l.mu.Unlock()
	go l.loop(every, stop, done)
}

func (l *Log) loop(every time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := l.Flush(ctx)
		cancel()
		switch {
		case err != nil && !failing:
			l.logger.Warn("keeping the latest requests for the console; until this succeeds, each instance's console lists only the requests it served",
				zap.Error(err))
		case err == nil && failing:
			l.logger.Info("keeping the latest requests for the console again")
		}
		failing = err != nil
	}
}

// Flush gives the rows recorded since the last Flush to the Backing. On
// failure they are kept for the next one, the newest Size per tenant.
func (l *Log) Flush(ctx context.Context) error {
	l.mu.Lock()
	if l.backing == nil || len(l.pending) == 0 {
		l.mu.Unlock()
		return nil
	}
	l.inflight, l.pending = l.pending, map[string]*ring{}
	var rows []Row
	for _, r := range l.inflight {
		rows = r.appendTo(rows)
	}
	l.mu.Unlock()

	err := l.backing.AppendRequests(ctx, rows, Size)

	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		// Kept for the next append: the rows that failed, then the
		// newer ones recorded meanwhile, the newest Size of them.
		for tenant, r := range l.inflight {
			if l.forgotten[tenant] {
				continue
			}
			merged := new(ring)
			for _, row := range l.pending[tenant].appendTo(r.appendTo(nil)) {
				merged.push(row)
			}
			l.pending[tenant] = merged
		}
	}
	for _, r := range l.inflight {
		if len(l.spare) < maxSpare {
			*r = ring{}
			l.spare = append(l.spare, r)
		}
	}
	l.inflight, l.forgotten = map[string]*ring{}, map[string]bool{}
	return err
}

// Close stops the background appends and makes a last one.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.stop = nil
	l.mu.Unlock()
	if stop == nil {
		return nil
	}
	close(stop)
	<-done
	return l.Flush(ctx)
}
