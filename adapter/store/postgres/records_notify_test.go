package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// TestCredentialWritesNotifyTenants: every write that can change whether a
// tenant's credentials work names the tenant on TenantsChannel when it
// commits, so that other instances drop what they cache of it.
func TestCredentialWritesNotifyTenants(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "tenantnotify")
	s, err := Open(ctx, Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got received
	n, err := StartNotifier(ctx, NotifierOptions{DSN: dsn, Channels: []string{TenantsChannel}, Handle: got.handle})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	writes := []struct {
		tenant string
		write  func() error
	}{
		{"tokens-a", func() error {
			return s.SaveTokens(ctx, []tokens.Record{{Hash: hashOf("a"), Tenant: "tokens-a", ID: "t1", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}})
		}},
		{"client-b", func() error { return s.SaveClient(ctx, &tokens.Client{Tenant: "client-b", ID: "c1"}) }},
		{"runtime-c", func() error { return s.SaveTenant(ctx, tenants.Record{Name: "runtime-c", Profile: "p"}) }},
		{"purged-d", func() error { return s.PurgeTenant(ctx, "purged-d") }},
	}
	for _, w := range writes {
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.tenant, err)
		}
		want := TenantsChannel + ":" + w.tenant
		got.wait(t, "notification of "+w.tenant, func() bool { return has(got.notes, want) })
	}
	// A write that fails notifies nobody.
	before := len(got.notes)
	if err := s.SaveTenant(ctx, tenants.Record{Name: "../bad"}); err == nil {
		t.Fatal("a bad tenant name was saved")
	}
	time.Sleep(200 * time.Millisecond)
	got.mu.Lock()
	defer got.mu.Unlock()
	if len(got.notes) != before {
		t.Fatalf("a refused write notified: %v", got.notes[before:])
	}
}
