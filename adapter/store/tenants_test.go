package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// fillTenant gives a tenant one of every kind of record the store keeps.
func fillTenant(t *testing.T, s *Badger, name string, users int) {
	t.Helper()
	ctx := context.Background()
	var members []patch.Member
	for i := 0; i < users; i++ {
		u := mustCreate(t, s, name, schema.User, user(fmt.Sprintf("u%d@%s.example", i, name),
			"externalId", fmt.Sprint("ext", i), "emails", []any{map[string]any{"value": fmt.Sprintf("u%d@%s.example", i, name)}}))
		members = append(members, patch.Member{Value: u["id"].(string)})
	}
	mustCreate(t, s, name, schema.Group, map[string]any{"displayName": "staff"}, members...)
	now := time.Now().UTC()
	hash := tokens.Hash("scim_token-of-" + name)
	if err := s.SaveTokens(ctx, []tokens.Record{{ID: "t1", Tenant: name, Hash: hash, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAccess(ctx, map[string]tokens.Access{name: {LastRequest: now}}); err != nil {
		t.Fatal(err)
	}
	c := &tokens.Client{Tenant: name, ID: "client-" + name}
	at := tokens.AccessToken{Tenant: name, Hash: tokens.Hash("at-" + name), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.SaveAccessToken(ctx, c, at); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveDeliveryState(ctx, name, DeliveryState{Cursor: 1}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Journal(ctx, name, 0, 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("journal: %v %v", evs, err)
	}
	if err := s.SaveDeadLetter(ctx, name, DeadLetter{Event: evs[0], Error: "refused", Attempts: 3}, DeliveryState{Cursor: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveTenant(ctx, tenants.Record{Name: name, Profile: "default"}); err != nil {
		t.Fatal(err)
	}
}

func TestPurgeTenantLeavesNothingAndTouchesNoOtherTenant(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	// 7,000 users: more keys than one purge transaction deletes.
	fillTenant(t, s, "gone", 7000)
	fillTenant(t, s, "kept", 3)
	keptBefore, err := s.tenantKeyCount("kept")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.tenantKeyCount("gone"); n < 7000*5 {
		t.Fatalf("the tenant to purge has only %d keys; the fixture is wrong", n)
	}
	if err := s.PurgeTenant(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	// Only the journal position stays: where the sequence stopped, and
	// the delivery cursor at it.
	head, err := s.LastSeq(ctx, "gone")
	if err != nil || head < 7000 {
		t.Fatalf("the purged tenant's journal position: %d, %v", head, err)
	}
	if n, err := s.tenantKeyCount("gone"); err != nil || n != 2 {
		t.Fatalf("after the purge %d keys of the tenant are left (%v); want its journal position's 2", n, err)
	}
	if st, err := s.DeliveryState(ctx, "gone"); err != nil || st != (DeliveryState{Cursor: head}) {
		t.Fatalf("the purged tenant's delivery state: %+v, %v", st, err)
	}
	if n, _ := s.tenantKeyCount("kept"); n != keptBefore {
		t.Fatalf("the other tenant had %d keys and has %d after the purge", keptBefore, n)
	}
	if rec, _ := s.Token(ctx, tokens.Hash("scim_token-of-gone")); rec != nil {
		t.Fatal("the purged tenant's token record is still there")
	}
	if at, _ := s.AccessToken(ctx, tokens.Hash("at-gone")); at != nil {
		t.Fatal("the purged tenant's access token is still there")
	}
	recs, err := s.TenantRecords(ctx)
	if err != nil || len(recs) != 1 || recs[0].Name != "kept" {
		t.Fatalf("tenant records after the purge: %+v %v", recs, err)
	}
	// The name can be used again, from a clean slate: the journal goes on
	// after the old one and the old userNames are free.
	u := mustCreate(t, s, "gone", schema.User, user("u0@gone.example"))
	evs, err := s.Journal(ctx, "gone", 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Seq != head+1 {
		t.Fatalf("journal of the re-created tenant: %+v %v", evs, err)
	}
	pg, err := s.List(ctx, "gone", schema.User, Query{Count: 10})
	if err != nil || pg.Total != 1 || pg.Resources[0]["id"] != u["id"] {
		t.Fatalf("users of the re-created tenant: %+v %v", pg, err)
	}
}

func TestTenantRecordsRoundTrip(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	overlap := time.Hour
	want := tenants.Record{Name: "acme-1", Profile: "print", Settings: []byte(`{"site":"x"}`), TokenValidity: 24 * time.Hour,
		RotationOverlap: &overlap, RateLimit: &tenants.RateLimit{Requests: 10, Window: time.Second}, Created: time.Unix(1, 0).UTC(), Updated: time.Unix(2, 0).UTC()}
	if err := s.SaveTenant(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveTenant(ctx, tenants.Record{Name: "../x"}); err == nil {
		t.Fatal("a record with an invalid name was saved")
	}
	got, err := s.TenantRecords(ctx)
	if err != nil || len(got) != 1 {
		t.Fatalf("%+v %v", got, err)
	}
	g := got[0]
	if g.Name != want.Name || g.Profile != want.Profile || string(g.Settings) != string(want.Settings) || g.TokenValidity != want.TokenValidity ||
		*g.RotationOverlap != overlap || *g.RateLimit != *want.RateLimit || !g.Created.Equal(want.Created) || !g.Updated.Equal(want.Updated) {
		t.Fatalf("read back %+v, saved %+v", g, want)
	}
}
