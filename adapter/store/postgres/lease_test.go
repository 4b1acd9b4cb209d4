package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
)

// leaseDB is a migrated database and a connection to it per holder.
func leaseDB(t *testing.T, holders ...string) []*Leases {
	t.Helper()
	dsn := pgtest.Shared(t).CreateDatabase(t, "leases")
	if _, err := Migrate(context.Background(), pgtest.Connect(t, dsn)); err != nil {
		t.Fatal(err)
	}
	var out []*Leases
	for _, h := range holders {
		l, err := NewLeases(pgtest.Connect(t, dsn), h, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// acquire calls an Acquire method, Leases.Acquire or
// Store.AcquireDelivery, and fails the test on an error.
func acquire(t *testing.T, take func(context.Context, string) (bool, error), name string) bool {
	t.Helper()
	ok, err := take(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func holderOf(t *testing.T, l *Leases, name string) string {
	t.Helper()
	h, err := l.HolderOf(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestLeaseHasOneHolderAndPassesOnWhenItExpires: the second instance
// cannot take a held lease, keeps failing while the holder renews, and
// takes it over once the holder stops renewing (it died) and the lease
// has expired; the old holder then cannot take it back.
func TestLeaseHasOneHolderAndPassesOnWhenItExpires(t *testing.T) {
	ls := leaseDB(t, "instance-a", "instance-b")
	a, b := ls[0], ls[1]
	const name = "delivery/acme"
	if !acquire(t, a.Acquire, name) {
		t.Fatal("a could not take a free lease")
	}
	if acquire(t, b.Acquire, name) {
		t.Fatal("b took a lease a holds")
	}
	for i := 0; i < 3; i++ {
		time.Sleep(400 * time.Millisecond)
		if !acquire(t, a.Acquire, name) {
			t.Fatalf("a could not renew its lease (round %d)", i)
		}
		if acquire(t, b.Acquire, name) {
			t.Fatalf("b took a lease a keeps renewing (round %d)", i)
		}
	}
	if h := holderOf(t, b, name); h != "instance-a" {
		t.Fatalf("holder %q, want instance-a", h)
	}
	// a stops renewing; its lease runs out after one TTL.
	deadline := time.Now().Add(3 * time.Second)
	for !acquire(t, b.Acquire, name) {
		if time.Now().After(deadline) {
			t.Fatal("b never took over the expired lease")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if acquire(t, a.Acquire, name) {
		t.Fatal("a took back a lease b now holds")
	}
	if h := holderOf(t, a, name); h != "instance-b" {
		t.Fatalf("holder %q, want instance-b", h)
	}
	// Other names are independent.
	if !acquire(t, a.Acquire, "delivery/other") {
		t.Fatal("a could not take another free lease")
	}
}

// TestLeaseReleaseHandsOverAtOnce: a released lease is free immediately,
// and only its holder can release it.
func TestLeaseReleaseHandsOverAtOnce(t *testing.T) {
	ls := leaseDB(t, "a", "b")
	a, b := ls[0], ls[1]
	if !acquire(t, a.Acquire, "job") {
		t.Fatal("a could not take a free lease")
	}
	if err := b.Release(context.Background(), "job"); err != nil {
		t.Fatal(err)
	}
	if h := holderOf(t, a, "job"); h != "a" {
		t.Fatalf("b's release freed a's lease: holder %q", h)
	}
	if err := a.Release(context.Background(), "job"); err != nil {
		t.Fatal(err)
	}
	if h := holderOf(t, a, "job"); h != "" {
		t.Fatalf("holder %q after release", h)
	}
	if !acquire(t, b.Acquire, "job") {
		t.Fatal("b could not take a released lease")
	}
}

// TestLeaseRaceHasOneWinner: instances asking for the same free lease at
// once, and again once it has expired: exactly one gets it each time.
func TestLeaseRaceHasOneWinner(t *testing.T) {
	var names []string
	for i := 0; i < 8; i++ {
		names = append(names, fmt.Sprintf("i%d", i))
	}
	ls := leaseDB(t, names...)
	for round := 0; round < 2; round++ {
		wins := make([]bool, len(ls))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, l := range ls {
			wg.Add(1)
			go func(i int, l *Leases) {
				defer wg.Done()
				<-start
				ok, err := l.Acquire(context.Background(), "delivery/race")
				if err != nil {
					t.Error(err)
				}
				wins[i] = ok
			}(i, l)
		}
		close(start)
		wg.Wait()
		n := 0
		for _, w := range wins {
			if w {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("round %d: %d instances got the lease, want exactly 1", round, n)
		}
		time.Sleep(1100 * time.Millisecond) // let it expire for the next round
	}
}

func TestNewLeasesRefusesBadSettings(t *testing.T) {
	var db *pgx.Conn
	if _, err := NewLeases(db, "", time.Minute); err == nil {
		t.Error("a lease without a holder name was accepted")
	}
	if _, err := NewLeases(db, "a", 10*time.Millisecond); err == nil {
		t.Error("a 10ms lease was accepted")
	}
}

// deliveryInstances opens one store per instance name on one new
// database, with leases of a second.
func deliveryInstances(t *testing.T, names ...string) []*Store {
	t.Helper()
	dsn := pgtest.Shared(t).CreateDatabase(t, "delivery_leases")
	var out []*Store
	for _, name := range names {
		s, err := Open(context.Background(), Options{DSN: dsn, Instance: name, LeaseTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

// TestDeliveryLeaseFencesTheOtherInstance: of two instances, one gets a
// tenant's delivery lease; the other's delivery state and dead letters
// for that tenant are refused with ErrLeaseLost and leave nothing behind,
// while other tenants and the holder's own saves go through. Once the
// holder stops renewing, its lease expires and the other takes over, and
// then the first one is refused.
func TestDeliveryLeaseFencesTheOtherInstance(t *testing.T) {
	ctx := context.Background()
	ss := deliveryInstances(t, "instance-a", "instance-b")
	a, b := ss[0], ss[1]
	if a.Instance() != "instance-a" {
		t.Fatalf("Instance() = %q", a.Instance())
	}
	if !acquire(t, a.AcquireDelivery, "acme") {
		t.Fatal("a could not take a free delivery lease")
	}
	if acquire(t, b.AcquireDelivery, "acme") {
		t.Fatal("b took the delivery lease a holds")
	}
	if !acquire(t, a.AcquireDelivery, "acme") {
		t.Fatal("a could not renew its delivery lease")
	}

	if err := b.SaveDeliveryState(ctx, "acme", store.DeliveryState{Cursor: 5, LastError: "b"}); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("b saving acme's delivery state: %v, want ErrLeaseLost", err)
	}
	dl := store.DeadLetter{Event: change.Event{Seq: 4, Tenant: "acme", Kind: change.UserCreated, ID: "u"}, Error: "refused"}
	if err := b.SaveDeadLetter(ctx, "acme", dl, store.DeliveryState{Cursor: 4}); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("b saving a dead letter of acme: %v, want ErrLeaseLost", err)
	}
	if st, _ := a.DeliveryState(ctx, "acme"); st.Cursor != 0 || st.LastError != "" {
		t.Fatalf("refused saves left a delivery state: %+v", st)
	}
	if n, _ := a.DeadLetterCount(ctx, "acme"); n != 0 {
		t.Fatalf("a refused save left %d dead letters", n)
	}
	if err := a.SaveDeliveryState(ctx, "acme", store.DeliveryState{Cursor: 3}); err != nil {
		t.Fatalf("the holder's save: %v", err)
	}
	if err := b.SaveDeliveryState(ctx, "contoso", store.DeliveryState{Cursor: 2}); err != nil {
		t.Fatalf("a save for a tenant nobody holds: %v", err)
	}

	// a stops renewing (it died); after a second its lease has expired,
	// and a lapsed lease fences nobody, even before b takes it.
	time.Sleep(1100 * time.Millisecond)
	if err := b.SaveDeliveryState(ctx, "acme", store.DeliveryState{Cursor: 4}); err != nil {
		t.Fatalf("b's save once a's lease expired: %v", err)
	}
	if !acquire(t, b.AcquireDelivery, "acme") {
		t.Fatal("b could not take over the expired delivery lease")
	}
	if acquire(t, a.AcquireDelivery, "acme") {
		t.Fatal("a took back the lease b now holds")
	}
	if err := a.SaveDeliveryState(ctx, "acme", store.DeliveryState{Cursor: 9}); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("the old holder's save after the takeover: %v, want ErrLeaseLost", err)
	}
	if st, _ := b.DeliveryState(ctx, "acme"); st.Cursor != 4 {
		t.Fatalf("cursor %d, want 4: the old holder moved it", st.Cursor)
	}

	// Released, the lease fences nobody and a can take it at once.
	if err := b.ReleaseDelivery(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveDeliveryState(ctx, "acme", store.DeliveryState{Cursor: 6}); err != nil {
		t.Fatalf("a save after the release: %v", err)
	}
	if !acquire(t, a.AcquireDelivery, "acme") {
		t.Fatal("a could not take the released lease")
	}
}

// TestTakeoverWaitsForTheHoldersSave: a save checks the lease and writes
// in one transaction, holding the lease's row, so an instance taking the
// expired lease over waits until the save has committed, and then reads
// what it wrote: no save of the old holder lands after the takeover.
func TestTakeoverWaitsForTheHoldersSave(t *testing.T) {
	ctx := context.Background()
	ss := deliveryInstances(t, "a", "b")
	a, b := ss[0], ss[1]
	if !acquire(t, a.AcquireDelivery, "acme") {
		t.Fatal("a could not take a free delivery lease")
	}
	time.Sleep(1100 * time.Millisecond) // a's lease expires
	tx, err := a.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := fenceDelivery(ctx, tx, a.Instance(), "acme"); err != nil {
		t.Fatal(err)
	}
	if err := putDeliveryState(ctx, tx, "acme", store.DeliveryState{Cursor: 7}); err != nil {
		t.Fatal(err)
	}
	took := make(chan bool, 1)
	go func() {
		ok, err := b.AcquireDelivery(ctx, "acme")
		if err != nil {
			t.Error(err)
		}
		took <- ok
	}()
	select {
	case <-took:
		t.Fatal("b took the lease over while a's save was in flight")
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !<-took {
		t.Fatal("b could not take the expired lease over")
	}
	if st, _ := b.DeliveryState(ctx, "acme"); st.Cursor != 7 {
		t.Fatalf("b reads cursor %d after the takeover, want 7", st.Cursor)
	}
}
