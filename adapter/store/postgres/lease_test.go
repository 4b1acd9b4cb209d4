package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

func acquire(t *testing.T, l *Leases, name string) bool {
	t.Helper()
	ok, err := l.Acquire(context.Background(), name)
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
	if !acquire(t, a, name) {
		t.Fatal("a could not take a free lease")
	}
	if acquire(t, b, name) {
		t.Fatal("b took a lease a holds")
	}
	for i := 0; i < 3; i++ {
		time.Sleep(400 * time.Millisecond)
		if !acquire(t, a, name) {
			t.Fatalf("a could not renew its lease (round %d)", i)
		}
		if acquire(t, b, name) {
			t.Fatalf("b took a lease a keeps renewing (round %d)", i)
		}
	}
	if h := holderOf(t, b, name); h != "instance-a" {
		t.Fatalf("holder %q, want instance-a", h)
	}
	// a stops renewing; its lease runs out after one TTL.
	deadline := time.Now().Add(3 * time.Second)
	for !acquire(t, b, name) {
		if time.Now().After(deadline) {
			t.Fatal("b never took over the expired lease")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if acquire(t, a, name) {
		t.Fatal("a took back a lease b now holds")
	}
	if h := holderOf(t, a, name); h != "instance-b" {
		t.Fatalf("holder %q, want instance-b", h)
	}
	// Other names are independent.
	if !acquire(t, a, "delivery/other") {
		t.Fatal("a could not take another free lease")
	}
}

// TestLeaseReleaseHandsOverAtOnce: a released lease is free immediately,
// and only its holder can release it.
func TestLeaseReleaseHandsOverAtOnce(t *testing.T) {
	ls := leaseDB(t, "a", "b")
	a, b := ls[0], ls[1]
	if !acquire(t, a, "job") {
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
	if !acquire(t, b, "job") {
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
