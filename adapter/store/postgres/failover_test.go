package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/delivery"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
)

// Interface guards: the PostgreSQL store is what delivery reads and
// writes, and decides which instance delivers a tenant.
var (
	_ delivery.Store = (*postgres.Store)(nil)
	_ delivery.Lease = (*postgres.Store)(nil)
)

// application is one event handed to the backend.
type application struct {
	seq uint64
	at  time.Time
	// dup is set for an event at or below the last one applied, which
	// the backend skipped.
	dup bool
}

// sharedBackend is the one backend of every tenant, which all instances
// deliver to. Like a real backend it skips events at or below the last
// one it applied.
type sharedBackend struct {
	mu   sync.Mutex
	last map[string]uint64
	log  map[string][]application
}

func (b *sharedBackend) apply(events []change.Event) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	tn := events[0].Tenant
	for _, ev := range events {
		dup := ev.Seq <= b.last[tn]
		b.log[tn] = append(b.log[tn], application{seq: ev.Seq, at: time.Now(), dup: dup})
		if !dup {
			b.last[tn] = ev.Seq
		}
	}
	return b.last[tn]
}

func (b *sharedBackend) lastOf(tn string) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last[tn]
}

func (b *sharedBackend) logOf(tn string) []application {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.log[tn])
}

// failoverInstance is one process: a store, a Deliverer holding leases
// through it, and a Notifier that wakes delivery for what other
// instances wrote.
type failoverInstance struct {
	be     *sharedBackend
	st     *postgres.Store
	d      *delivery.Deliverer
	notes  *postgres.Notifier
	cancel context.CancelFunc

	// dying makes the instance's next Apply calls apply their batch and
	// then hang until delivery is cancelled, never reporting back: the
	// process dies after the backend applied the batch and before its
	// cursor is saved. hung keeps those batches by tenant.
	dying atomic.Bool
	mu    sync.Mutex
	hung  map[string][]uint64
	froze chan struct{}
}

func (in *failoverInstance) Apply(ctx context.Context, events []change.Event) (uint64, error) {
	last := in.be.apply(events)
	if !in.dying.Load() {
		return last, nil
	}
	in.mu.Lock()
	for _, ev := range events {
		in.hung[ev.Tenant] = append(in.hung[ev.Tenant], ev.Seq)
	}
	in.mu.Unlock()
	select {
	case in.froze <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

const failoverLeaseRenew = 250 * time.Millisecond

func startFailoverInstance(t *testing.T, dsn, name string, be *sharedBackend, tenants []string) *failoverInstance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := postgres.Open(ctx, postgres.Options{DSN: dsn, Instance: name, LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	in := &failoverInstance{be: be, st: st, cancel: cancel, hung: map[string][]uint64{}, froze: make(chan struct{}, 1)}
	in.d = delivery.New(st, delivery.Options{Lease: st, LeaseRenew: failoverLeaseRenew, BatchSize: 5,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	for _, tn := range tenants {
		in.d.SetTarget(tn, in)
	}
	if err := in.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.d.Stop)
	in.notes, err = postgres.StartNotifier(ctx, postgres.NotifierOptions{DSN: dsn, Channels: []string{postgres.ChangesChannel},
		Handle: func(_, tenant string) { in.d.Notify(tenant) },
		OnListen: func() {
			for _, tn := range tenants {
				in.d.Notify(tn)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.notes.Close)
	return in
}

// die stops the instance the way a crash does: its delivery ends where it
// is, without saving, renewing or giving up anything.
func (in *failoverInstance) die() {
	in.notes.Close()
	in.cancel()
}

// TestFailoverBetweenInstances: two instances deliver four tenants from
// one database, writes going through both. One dies in the middle of a
// batch its backend applied; its leases are not given up, so the other
// takes its tenants over once they expire, and delivers everything:
// each tenant's events reach the backend in order, and the only ones
// handed over twice are those of the batch in flight when the instance
// died.
func TestFailoverBetweenInstances(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "failover")
	tenants := []string{"t0", "t1", "t2", "t3"}
	be := &sharedBackend{last: map[string]uint64{}, log: map[string][]application{}}
	a := startFailoverInstance(t, dsn, "instance-a", be, tenants)
	b := startFailoverInstance(t, dsn, "instance-b", be, tenants)
	written := 0
	write := func(via *failoverInstance, tn string) {
		t.Helper()
		written++
		if _, err := via.st.Create(ctx, tn, schema.User, map[string]any{"userName": fmt.Sprint("user", written)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	delivered := func(what string) {
		t.Helper()
		deadline := time.Now().Add(8 * time.Second)
		for _, tn := range tenants {
			head, err := b.st.LastSeq(ctx, tn)
			if err != nil {
				t.Fatal(err)
			}
			// The backend has applied an event before its instance saves
			// the cursor past it: wait for both.
			for {
				st, err := b.st.DeliveryState(ctx, tn)
				if err != nil {
					t.Fatal(err)
				}
				if be.lastOf(tn) == head && st.Cursor == head {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s delivered through %d of %d, cursor at %d", what, tn, be.lastOf(tn), head, st.Cursor)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}

	for i := range 80 {
		write([]*failoverInstance{a, b}[i%2], tenants[i%len(tenants)])
	}
	delivered("writes through both instances")

	// a dies in the middle of the next batch it is handed.
	a.dying.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		write([]*failoverInstance{a, b}[i%2], tenants[i%len(tenants)])
		select {
		case <-a.froze:
		default:
			if time.Now().After(deadline) {
				t.Fatal("instance a never took a batch to die in")
			}
			time.Sleep(2 * time.Millisecond)
			continue
		}
		break
	}
	a.die()
	died := time.Now()
	a.mu.Lock()
	hung := a.hung
	a.mu.Unlock()
	for tn := range hung {
		if ok, err := b.st.AcquireDelivery(ctx, tn); err != nil || ok {
			t.Fatalf("b took the lease of %s at once (%v, %v): the dead instance gave it up", tn, ok, err)
		}
	}

	for i := range 40 {
		write(b, tenants[i%len(tenants)])
	}
	delivered("after the takeover")

	for _, tn := range tenants {
		log := be.logOf(tn)
		head, _ := b.st.LastSeq(ctx, tn)
		var next uint64 = 1
		var dups []uint64
		resumed := time.Time{}
		for _, ap := range log {
			if ap.dup {
				dups = append(dups, ap.seq)
				continue
			}
			if ap.seq != next {
				t.Fatalf("%s: the backend got %d after %d", tn, ap.seq, next-1)
			}
			next++
			if resumed.IsZero() && ap.at.After(died) {
				resumed = ap.at
			}
		}
		if next-1 != head {
			t.Fatalf("%s: %d events applied, journal has %d", tn, next-1, head)
		}
		slices.Sort(dups)
		if !slices.Equal(dups, hung[tn]) {
			t.Errorf("%s: handed over twice %v, want the batch in flight at the takeover, %v", tn, dups, hung[tn])
		}
		if _, held := hung[tn]; held {
			wait := resumed.Sub(died)
			t.Logf("%s: taken over %v after its instance died; events %v handed over again", tn, wait, dups)
			if wait < failoverLeaseRenew*2 || wait > 4*time.Second {
				t.Errorf("%s resumed %v after its instance died; its lease of 1s had to expire first", tn, wait)
			}
		}
		st, err := b.st.DeliveryState(ctx, tn)
		if err != nil || st.Cursor != head || st.Failures != 0 {
			t.Errorf("%s: delivery state %+v, %v; want the cursor at %d", tn, st, err, head)
		}
	}
}
