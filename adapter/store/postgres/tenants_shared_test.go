package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
	"github.com/caddy-scim/caddy-scim/adapter/tenants"
)

// TestTenantChangesFromOutOfDateRecords: two instances' registries on one
// database. A change made from a record the other instance has changed
// since — an edit, a disable, a purge — is refused with ErrChanged and
// leaves the other's change as it is; before an edit's apply (which may
// configure the backend) runs. After re-reading, the change goes through
// and keeps the other's. Of two instances creating one name at once,
// exactly one does.
func TestTenantChangesFromOutOfDateRecords(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "tenants_shared")
	open := func(name string) (*Store, *tenants.Registry) {
		s, err := Open(ctx, Options{DSN: dsn, Instance: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		r, err := tenants.Load(ctx, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s, r
	}
	sa, ra := open("a")
	_, rb := open("b")
	limit := func(n int) *tenants.RateLimit { return &tenants.RateLimit{Requests: n, Window: 1e9} }
	stored := func(name string) *tenants.Record {
		t.Helper()
		rec, err := sa.TenantRecord(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}

	if _, err := ra.Put(ctx, tenants.Record{Name: "acme", Profile: "default", RateLimit: limit(10)}, nil); err != nil {
		t.Fatal(err)
	}
	// b has not heard of acme: creating it is refused, and so is an edit
	// whose apply must not run.
	if _, err := rb.Put(ctx, tenants.Record{Name: "acme", Profile: "default"}, nil); !errors.Is(err, tenants.ErrChanged) {
		t.Fatalf("b created a tenant a had created: %v", err)
	}
	applied := false
	if _, err := rb.Put(ctx, tenants.Record{Name: "acme", Profile: "default"}, func(_, _ *tenants.Record) error {
		applied = true
		return nil
	}); !errors.Is(err, tenants.ErrChanged) || applied {
		t.Fatalf("an edit from no record: %v, apply ran: %v", err, applied)
	}
	if rec := stored("acme"); rec.RateLimit == nil || rec.RateLimit.Requests != 10 {
		t.Fatalf("a's tenant after b's refused writes: %+v", rec)
	}

	// b catches up; a changes the limit; b's disable from the older
	// record is refused and changes nothing.
	if _, _, err := rb.Refresh(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := ra.Put(ctx, tenants.Record{Name: "acme", Profile: "default", RateLimit: limit(20)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Disable(ctx, "acme"); !errors.Is(err, tenants.ErrChanged) {
		t.Fatalf("a disable from an out-of-date record: %v", err)
	}
	if err := rb.Purge(ctx, "acme", nil); !errors.Is(err, tenants.ErrChanged) {
		t.Fatalf("a purge from an out-of-date record: %v", err)
	}
	if rec := stored("acme"); rec.Disabled || rec.Purging || rec.RateLimit.Requests != 20 {
		t.Fatalf("a's tenant after b's refused disable and purge: %+v", rec)
	}
	if rec, _ := rb.Get("acme"); rec.Disabled {
		t.Fatal("b shows the tenant disabled though nothing was saved")
	}
	// Once b has read it again, its disable goes through and keeps a's
	// limit.
	if _, _, err := rb.Refresh(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Disable(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if rec := stored("acme"); !rec.Disabled || rec.RateLimit.Requests != 20 {
		t.Fatalf("after b's disable: %+v", rec)
	}
	// The same record saved by the instance that holds it is no conflict.
	if _, err := rb.Put(ctx, tenants.Record{Name: "acme", Profile: "default", RateLimit: limit(30)}, func(_, _ *tenants.Record) error { return nil }); err != nil {
		t.Fatal(err)
	}

	// Two instances create one name at once: one wins.
	for i := range 20 {
		name := fmt.Sprint("race", i)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, r := range []*tenants.Registry{ra, rb} {
			wg.Go(func() {
				_, errs[j] = r.Put(ctx, tenants.Record{Name: name, Profile: fmt.Sprint("p", j)}, nil)
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, tenants.ErrChanged):
				t.Fatalf("%s: %v", name, err)
			}
		}
		if won != 1 {
			t.Fatalf("%s: %d instances created it (%v)", name, won, errs)
		}
	}
}
