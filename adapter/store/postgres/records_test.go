package postgres

import (
	"context"
	"crypto/sha256"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

func openStore(t *testing.T, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{DSN: pgtest.Shared(t).CreateDatabase(t, "records"), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func hashOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func TestOpenRefusesABadDSNWithoutEchoingIt(t *testing.T) {
	_, err := Open(context.Background(), Options{DSN: "postgres://user:s3cret-pw@[::1"})
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("Open with a broken DSN: %v", err)
	}
	if _, err := Open(context.Background(), Options{}); err == nil {
		t.Fatal("Open without a DSN succeeded")
	}
}

func TestTokenRecords(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	a := tokens.Record{ID: "a1", Tenant: "acme", Hash: hashOf("a"), IssuedAt: now, ExpiresAt: now.AddDate(1, 0, 0)}
	b := tokens.Record{ID: "b1", Tenant: "acme", Hash: hashOf("b"), IssuedAt: now, ExpiresAt: now.AddDate(1, 0, 0)}
	c := tokens.Record{ID: "c1", Tenant: "contoso", Hash: hashOf("c"), IssuedAt: now, ExpiresAt: now.AddDate(1, 0, 0)}
	if err := s.SaveTokens(ctx, []tokens.Record{a, b, c}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Token(ctx, hashOf("a"))
	if err != nil || got == nil || !reflect.DeepEqual(*got, a) {
		t.Fatalf("Token(a) = %+v, %v", got, err)
	}
	if got, err := s.Token(ctx, hashOf("nope")); got != nil || err != nil {
		t.Fatalf("an unknown token: %+v, %v", got, err)
	}
	// A revocation saves the record again.
	a.RevokedAt, a.RevokedByOperator = now.Add(time.Hour), true
	if err := s.SaveTokens(ctx, []tokens.Record{a}); err != nil {
		t.Fatal(err)
	}
	list, err := s.TenantTokens(ctx, "acme")
	if err != nil || len(list) != 2 {
		t.Fatalf("TenantTokens(acme) = %v, %v", list, err)
	}
	for _, r := range list {
		if r.Tenant != "acme" || (r.ID == "a1" && !r.RevokedAt.Equal(a.RevokedAt)) {
			t.Fatalf("TenantTokens(acme) holds %+v", r)
		}
	}
	if err := s.SaveTokens(ctx, []tokens.Record{{ID: "x", Hash: hashOf("x")}}); err == nil {
		t.Fatal("a token without a tenant was saved")
	}
}

func TestAccessTimesOnlyMoveForward(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	if err := s.SaveAccess(ctx, map[string]tokens.Access{"acme": {LastRequest: t0.Add(time.Hour), LastChange: t0}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAccess(ctx, map[string]tokens.Access{"acme": {LastRequest: t0, LastChange: t0.Add(2 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Access(ctx, "acme")
	if err != nil || !got.LastRequest.Equal(t0.Add(time.Hour)) || !got.LastChange.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("Access = %+v, %v", got, err)
	}
	if got, err := s.Access(ctx, "contoso"); err != nil || !got.LastRequest.IsZero() {
		t.Fatalf("Access of a tenant never seen = %+v, %v", got, err)
	}
}

func TestClientsAndAccessTokens(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	s := openStore(t, func() time.Time { return clock })
	if c, err := s.Client(ctx, "acme"); c != nil || err != nil {
		t.Fatalf("Client before any: %+v, %v", c, err)
	}
	c := &tokens.Client{Tenant: "acme", ID: "client-1", CreatedAt: clock}
	if err := s.SaveClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	tok := tokens.AccessToken{Hash: hashOf("at"), Tenant: "acme", ClientID: "client-1", IssuedAt: clock, ExpiresAt: clock.Add(time.Hour)}
	if err := s.SaveAccessToken(ctx, &tokens.Client{Tenant: "contoso"}, tok); err == nil {
		t.Fatal("an access token was saved with another tenant's client")
	}
	if err := s.SaveAccessToken(ctx, c, tok); err != nil {
		t.Fatal(err)
	}
	got, err := s.AccessToken(ctx, hashOf("at"))
	if err != nil || got == nil || got.ClientID != "client-1" {
		t.Fatalf("AccessToken = %+v, %v", got, err)
	}
	gc, err := s.Client(ctx, "acme")
	if err != nil || gc == nil || gc.ID != "client-1" {
		t.Fatalf("Client = %+v, %v", gc, err)
	}
	// Past its lifetime plus a day, the token is unknown.
	clock = clock.Add(time.Hour + 24*time.Hour + time.Minute)
	if got, err := s.AccessToken(ctx, hashOf("at")); got != nil || err != nil {
		t.Fatalf("an access token long expired: %+v, %v", got, err)
	}
}

func TestTenantRecordsAndPurge(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	for _, n := range []string{"zeta", "Acme", "acme.eu", "beta"} {
		if err := s.SaveTenant(ctx, tenants.Record{Name: n, Profile: "default"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveTenant(ctx, tenants.Record{Name: "../x"}); err == nil {
		t.Fatal("an invalid tenant name was saved")
	}
	recs, err := s.TenantRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
	}
	if want := []string{"Acme", "acme.eu", "beta", "zeta"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("TenantRecords in order %v, want %v", names, want)
	}

	// Data of two tenants; purge one.
	for _, tn := range []string{"beta", "zeta"} {
		if err := s.SaveTokens(ctx, []tokens.Record{{ID: tn, Tenant: tn, Hash: hashOf(tn)}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveAccess(ctx, map[string]tokens.Access{tn: {LastRequest: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		if err := s.write.Write(ctx, tn, event(tn+"-1", false)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PurgeTenant(ctx, "beta"); err != nil {
		t.Fatal(err)
	}
	for _, table := range tenantTables {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE tenant = 'beta'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		// Only the journal position stays, one row in each of two tables.
		if want := map[bool]int{true: 1}[keptAtPurge[table]]; n != want {
			t.Fatalf("%d rows of the purged tenant left in %s, want %d", n, table, want)
		}
	}
	if head, err := s.LastSeq(ctx, "beta"); err != nil || head != 1 {
		t.Fatalf("the purged tenant's journal position: %d, %v", head, err)
	}
	if st, err := s.DeliveryState(ctx, "beta"); err != nil || st != (store.DeliveryState{Cursor: 1}) {
		t.Fatalf("the purged tenant's delivery state: %+v, %v", st, err)
	}
	if tok, _ := s.Token(ctx, hashOf("zeta")); tok == nil {
		t.Fatal("purging beta removed zeta's token")
	}
	recs, _ = s.TenantRecords(ctx)
	if len(recs) != 3 {
		t.Fatalf("%d tenant records after the purge", len(recs))
	}
	// The purged tenant's journal goes on after its last sequence.
	if err := s.write.Write(ctx, "beta", event("beta-new", false)); err != nil {
		t.Fatal(err)
	}
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT seq FROM scim_journal WHERE tenant = 'beta'`).Scan(&seq); err != nil || seq != 2 {
		t.Fatalf("first sequence after the purge: %d, %v", seq, err)
	}
}

// pgtestDSN is a fresh database on the shared server.
func pgtestDSN(t *testing.T) string {
	t.Helper()
	return pgtest.Shared(t).CreateDatabase(t, "store")
}
