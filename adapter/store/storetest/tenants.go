package storetest

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// testIsolation writes the same names to tenants whose names are
// prefixes of each other: none sees another's resources, membership,
// journal or delivery state.
func testIsolation(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	names := []string{"acm", "acme", "acme1", "acme.eu"}
	us := map[string]string{}
	gs := map[string]string{}
	for i, tn := range names {
		for j := 0; j <= i; j++ {
			f.user(tn, fmt.Sprint("extra", j))
		}
		us[tn] = f.user(tn, "shared@example.com", "externalId", "x")
		gs[tn] = f.group(tn, "Staff", us[tn])
	}
	for i, tn := range names {
		if n := len(f.all(tn, schema.User)); n != i+2 {
			t.Errorf("%s lists %d users, want %d", tn, n, i+2)
		}
		if n := len(f.journal(tn)); n != i+4 {
			t.Errorf("%s journals %d events, want %d", tn, n, i+4)
		}
		p := f.list(tn, schema.User, store.Query{Filter: f.parse(`userName eq "shared@example.com"`), Count: 10})
		if got := ids(p.Resources); !slices.Equal(got, []string{us[tn]}) {
			t.Errorf("%s: the filter finds %v", tn, got)
		}
		if got := f.groups(tn, us[tn]); !slices.Equal(got, []string{gs[tn]}) {
			t.Errorf("%s: groups %v", tn, got)
		}
		for _, other := range names {
			if other == tn {
				continue
			}
			f.gone(tn, schema.User, us[other])
			f.gone(tn, schema.Group, gs[other])
			if got := f.members(tn, gs[other]); len(got) != 0 {
				t.Errorf("%s sees the members of %s's group: %v", tn, other, got)
			}
			if got := f.groups(tn, us[other]); len(got) != 0 {
				t.Errorf("%s sees the groups of %s's user: %v", tn, other, got)
			}
		}
	}
	// Another tenant's id is no member.
	out := f.update("acme", schema.Group, gs["acme"], delta(patch.MemberDelta{Add: refs1(us["acme1"])}))
	if out.Changed || !slices.Equal(out.SkippedMembers, []string{us["acme1"]}) {
		t.Errorf("adding another tenant's user: changed %v, skipped %v", out.Changed, out.SkippedMembers)
	}
	// Writes in one tenant change nothing in another.
	f.del("acme", schema.User, us["acme"])
	f.del("acme", schema.Group, gs["acme"])
	for _, tn := range []string{"acm", "acme1", "acme.eu"} {
		f.get(tn, schema.User, us[tn])
		if got := f.members(tn, gs[tn]); !slices.Equal(got, []string{us[tn]}) {
			t.Errorf("%s's group lost its member: %v", tn, got)
		}
	}
	if err := f.e.SaveDeliveryState(ctx, "acme", store.DeliveryState{Cursor: 3}); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []string{"acm", "acme1"} {
		if st, _ := f.e.DeliveryState(ctx, tn); st.Cursor != 0 {
			t.Errorf("%s has cursor %d", tn, st.Cursor)
		}
	}
}

// sameRecord compares token records, times by instant.
func sameRecord(a, b tokens.Record) bool {
	return a.ID == b.ID && a.Tenant == b.Tenant && slices.Equal(a.Hash, b.Hash) && a.IssuedAt.Equal(b.IssuedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.RevokedAt.Equal(b.RevokedAt) && a.RevokedByOperator == b.RevokedByOperator
}

func testTokens(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := func(tn, token string) tokens.Record {
		h := tokens.Hash(token)
		return tokens.Record{ID: fmt.Sprintf("%x", h[:6]), Tenant: tn, Hash: h, IssuedAt: when, ExpiresAt: when.AddDate(1, 0, 0)}
	}
	a1, a2, g1 := rec(acme, "scim_a1"), rec(acme, "scim_a2"), rec(globex, "scim_g1")
	if err := f.e.SaveTokens(ctx, []tokens.Record{a1, a2, g1}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []tokens.Record{a1, a2, g1} {
		got, err := f.e.Token(ctx, want.Hash)
		if err != nil || got == nil || !sameRecord(*got, want) {
			t.Errorf("Token(%s) = %+v, %v; want %+v", want.ID, got, err, want)
		}
	}
	if got, err := f.e.Token(ctx, tokens.Hash("scim_unknown")); got != nil || err != nil {
		t.Errorf("Token(unknown) = %+v, %v; want nil, nil", got, err)
	}
	// A rotation: the old record revoked and a new one, in one save.
	a1.RevokedAt, a1.RevokedByOperator = when.Add(time.Hour), true
	a3 := rec(acme, "scim_a3")
	if err := f.e.SaveTokens(ctx, []tokens.Record{a1, a3}); err != nil {
		t.Fatal(err)
	}
	got, err := f.e.TenantTokens(ctx, acme)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]tokens.Record{}
	for _, r := range got {
		byID[r.ID] = r
	}
	if len(got) != 3 || len(byID) != 3 || !sameRecord(byID[a1.ID], a1) || !sameRecord(byID[a2.ID], a2) || !sameRecord(byID[a3.ID], a3) {
		t.Errorf("TenantTokens(acme) = %+v", got)
	}
	if got, _ := f.e.TenantTokens(ctx, globex); len(got) != 1 || !sameRecord(got[0], g1) {
		t.Errorf("TenantTokens(globex) = %+v", got)
	}
	if got, err := f.e.TenantTokens(ctx, "nobody"); len(got) != 0 || err != nil {
		t.Errorf("TenantTokens(nobody) = %+v, %v", got, err)
	}

	// Access times only move forward, field by field.
	if a, err := f.e.Access(ctx, acme); err != nil || !a.LastRequest.IsZero() || !a.LastChange.IsZero() {
		t.Errorf("initial access = %+v, %v", a, err)
	}
	if err := f.e.SaveAccess(ctx, map[string]tokens.Access{acme: {LastRequest: when, LastChange: when}, globex: {LastRequest: when}}); err != nil {
		t.Fatal(err)
	}
	if err := f.e.SaveAccess(ctx, map[string]tokens.Access{acme: {LastRequest: when.Add(-time.Hour), LastChange: when.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.e.Access(ctx, acme); !a.LastRequest.Equal(when) || !a.LastChange.Equal(when.Add(time.Hour)) {
		t.Errorf("access = %+v; want last request %v, last change %v", a, when, when.Add(time.Hour))
	}
	if a, _ := f.e.Access(ctx, globex); !a.LastRequest.Equal(when) || !a.LastChange.IsZero() {
		t.Errorf("globex access = %+v", a)
	}
}

// sameClient compares client records, times by instant.
func sameClient(a, b *tokens.Client) bool {
	if a == nil || b == nil || a.Tenant != b.Tenant || a.ID != b.ID || !a.CreatedAt.Equal(b.CreatedAt) || len(a.Secrets) != len(b.Secrets) {
		return false
	}
	for i, x := range a.Secrets {
		y := b.Secrets[i]
		if x.ID != y.ID || !slices.Equal(x.Hash, y.Hash) || !x.CreatedAt.Equal(y.CreatedAt) || !x.LastUsed.Equal(y.LastUsed) {
			return false
		}
	}
	return true
}

func testClients(t *testing.T, s *suite) {
	f := s.fresh(t)
	cp, ok := f.e.(tokens.ClientPersistence)
	if !ok {
		t.Skip("the engine does not implement tokens.ClientPersistence")
	}
	ctx := f.ctx
	when := time.Now().UTC().Truncate(time.Second)
	if c, err := cp.Client(ctx, acme); c != nil || err != nil {
		t.Fatalf("Client of a tenant without one = %+v, %v", c, err)
	}
	c := &tokens.Client{Tenant: acme, ID: "client-acme", CreatedAt: when,
		Secrets: []tokens.ClientSecret{{ID: "s1", Hash: tokens.Hash("secret-1"), CreatedAt: when}, {ID: "s2", Hash: tokens.Hash("secret-2"), CreatedAt: when}}}
	if err := cp.SaveClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, err := cp.Client(ctx, acme); err != nil || !sameClient(got, c) {
		t.Errorf("Client = %+v, %v; want %+v", got, err, c)
	}
	if got, _ := cp.Client(ctx, globex); got != nil {
		t.Errorf("another tenant has client %+v", got)
	}
	c.Secrets[0].LastUsed = when.Add(time.Minute)
	at := tokens.AccessToken{Hash: tokens.Hash("at-1"), Tenant: acme, ClientID: c.ID, SecretID: "s1", IssuedAt: when, ExpiresAt: when.Add(time.Hour)}
	if err := cp.SaveAccessToken(ctx, c, at); err != nil {
		t.Fatal(err)
	}
	got, err := cp.AccessToken(ctx, at.Hash)
	if err != nil || got == nil || got.Tenant != acme || got.ClientID != c.ID || got.SecretID != "s1" || !slices.Equal(got.Hash, at.Hash) ||
		!got.IssuedAt.Equal(at.IssuedAt) || !got.ExpiresAt.Equal(at.ExpiresAt) {
		t.Errorf("AccessToken = %+v, %v; want %+v", got, err, at)
	}
	if got, _ := cp.Client(ctx, acme); !sameClient(got, c) {
		t.Errorf("the client saved with the access token = %+v, want %+v", got, c)
	}
	if got, err := cp.AccessToken(ctx, tokens.Hash("at-unknown")); got != nil || err != nil {
		t.Errorf("AccessToken(unknown) = %+v, %v", got, err)
	}
	// A revoked secret is removed from the record.
	c.Secrets = c.Secrets[1:]
	if err := cp.SaveClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, _ := cp.Client(ctx, acme); !sameClient(got, c) {
		t.Errorf("after revoking a secret: %+v", got)
	}
}

func testTenantRecords(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	if recs, err := f.e.TenantRecords(ctx); err != nil || len(recs) != 0 {
		t.Fatalf("records of a new store: %+v, %v", recs, err)
	}
	overlap := time.Hour
	disabled := time.Unix(3, 0).UTC()
	full := tenants.Record{Name: "acme-1", Profile: "print", Account: "acme", Settings: []byte(`{"site":"x"}`), TokenValidity: 24 * time.Hour,
		RotationOverlap: &overlap, RateLimit: &tenants.RateLimit{Requests: 10, Window: time.Second}, Disabled: true, DisabledAt: &disabled,
		Created: time.Unix(1, 0).UTC(), Updated: time.Unix(2, 0).UTC()}
	zero := time.Duration(0)
	plain := tenants.Record{Name: "globex", Profile: "default", RotationOverlap: &zero, Created: time.Unix(1, 0).UTC(), Updated: time.Unix(1, 0).UTC()}
	for _, rec := range []tenants.Record{full, plain} {
		if err := f.e.SaveTenant(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"../x", "", ".hidden", "a/b"} {
		if err := f.e.SaveTenant(ctx, tenants.Record{Name: bad}); err == nil {
			t.Errorf("a record named %q was saved", bad)
		}
	}
	check := func(want ...tenants.Record) {
		t.Helper()
		got, err := f.e.TenantRecords(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]tenants.Record{}
		for _, r := range got {
			byName[r.Name] = r
		}
		if len(got) != len(want) || len(byName) != len(want) {
			t.Fatalf("%d records, want %d: %+v", len(got), len(want), got)
		}
		for _, w := range want {
			if g := byName[w.Name]; !reflect.DeepEqual(canon(t, g), canon(t, w)) || !g.Created.Equal(w.Created) || !g.Updated.Equal(w.Updated) {
				t.Errorf("read back %+v, saved %+v", g, w)
			}
		}
	}
	check(full, plain)
	// Saving a record of the same name replaces it.
	full.Disabled, full.DisabledAt, full.Purging, full.Updated = false, nil, true, time.Unix(5, 0).UTC()
	if err := f.e.SaveTenant(ctx, full); err != nil {
		t.Fatal(err)
	}
	check(full, plain)
}

// fillTenant gives a tenant one of every kind of record the interfaces
// keep: users, a group, a token, access times, a client and an access
// token when the engine keeps them, delivery state, a dead letter and the
// tenant record.
func (f *fixture) fillTenant(tn string, users, writers int) {
	f.t.Helper()
	ctx := f.ctx
	ids := make([]string, users)
	parallel(writers, func(w int) {
		for i := w; i < users; i += writers {
			out, err := f.e.Create(ctx, tn, schema.User, userData(fmt.Sprintf("u%d@%s.example", i, tn),
				"externalId", fmt.Sprint("ext", i), "emails", []any{map[string]any{"value": fmt.Sprintf("u%d@%s.example", i, tn)}}), nil)
			if err != nil {
				f.t.Errorf("create: %v", err)
				return
			}
			ids[i] = id(out.Resource)
		}
	})
	if f.t.Failed() {
		f.t.FailNow()
	}
	g := f.group(tn, "staff")
	for i := 0; i < users; i += 1000 {
		f.update(tn, schema.Group, g, delta(patch.MemberDelta{Add: refs(ids[i:min(i+1000, users)])}))
	}
	now := time.Now().UTC().Truncate(time.Second)
	fail := func(err error) {
		if err != nil {
			f.t.Fatal(err)
		}
	}
	fail(f.e.SaveTokens(ctx, []tokens.Record{{ID: "t1", Tenant: tn, Hash: tokens.Hash("scim_token-of-" + tn), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}}))
	fail(f.e.SaveAccess(ctx, map[string]tokens.Access{tn: {LastRequest: now, LastChange: now}}))
	if cp, ok := f.e.(tokens.ClientPersistence); ok {
		c := &tokens.Client{Tenant: tn, ID: "client-" + tn, CreatedAt: now, Secrets: []tokens.ClientSecret{{ID: "s", Hash: tokens.Hash("secret-" + tn), CreatedAt: now}}}
		fail(cp.SaveAccessToken(ctx, c, tokens.AccessToken{Tenant: tn, Hash: tokens.Hash("at-" + tn), ClientID: c.ID, SecretID: "s", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}))
	}
	evs, err := f.e.Journal(ctx, tn, 0, 1)
	fail(err)
	fail(f.e.SaveDeadLetter(ctx, tn, store.DeadLetter{Event: evs[0], Error: "refused", Attempts: 3, Time: now}, store.DeliveryState{Cursor: 1, Failures: 1}))
	fail(f.e.SaveTenant(ctx, tenants.Record{Name: tn, Profile: "default", Created: now, Updated: now}))
}

// snapshot is everything the interfaces show of one tenant, as JSON
// decodes it, for comparing a tenant before and after.
type snapshot struct {
	Users, Groups     any
	Members, MemberOf map[string][]string
	Journal           any
	LastSeq           uint64
	Delivery          any
	DeadLetters       any
	Tokens            any
	Access            any
	Token             any
	Client            any
	AccessToken       any
	Record            any
}

// snapshot reads what the interfaces show of tn.
func (f *fixture) snapshot(tn string) snapshot {
	f.t.Helper()
	ctx := f.ctx
	check := func(err error) {
		if err != nil {
			f.t.Fatalf("snapshot of %s: %v", tn, err)
		}
	}
	users, groups := f.all(tn, schema.User), f.all(tn, schema.Group)
	sn := snapshot{Users: canon(f.t, users), Groups: canon(f.t, groups), Members: map[string][]string{}, MemberOf: map[string][]string{},
		Journal: canon(f.t, f.journal(tn)), LastSeq: f.lastSeq(tn)}
	for _, g := range groups {
		sn.Members[id(g)] = f.members(tn, id(g))
	}
	for _, u := range users {
		sn.MemberOf[id(u)] = f.groups(tn, id(u))
	}
	st, err := f.e.DeliveryState(ctx, tn)
	check(err)
	dls, err := f.e.DeadLetters(ctx, tn)
	check(err)
	recs, err := f.e.TenantTokens(ctx, tn)
	check(err)
	acc, err := f.e.Access(ctx, tn)
	check(err)
	tok, err := f.e.Token(ctx, tokens.Hash("scim_token-of-"+tn))
	check(err)
	sn.Delivery, sn.DeadLetters, sn.Tokens, sn.Access, sn.Token = canon(f.t, st), canon(f.t, dls), canon(f.t, recs), canon(f.t, acc), canon(f.t, tok)
	if cp, ok := f.e.(tokens.ClientPersistence); ok {
		c, err := cp.Client(ctx, tn)
		check(err)
		at, err := cp.AccessToken(ctx, tokens.Hash("at-"+tn))
		check(err)
		sn.Client, sn.AccessToken = canon(f.t, c), canon(f.t, at)
	}
	all, err := f.e.TenantRecords(ctx)
	check(err)
	for _, r := range all {
		if r.Name == tn {
			sn.Record = canon(f.t, r)
		}
	}
	return sn
}

// empty reports what of a snapshot is not empty, but for a journal
// position at pos: the sequence, and the delivery cursor at it.
func (sn snapshot) empty(t testing.TB, pos uint64) []string {
	var left []string
	for name, v := range map[string]any{"users": sn.Users, "groups": sn.Groups, "journal": sn.Journal, "dead letters": sn.DeadLetters, "tokens": sn.Tokens} {
		if l, _ := v.([]any); len(l) > 0 {
			left = append(left, name)
		}
	}
	if sn.LastSeq != pos {
		left = append(left, "journal position")
	}
	if !reflect.DeepEqual(sn.Delivery, canon(t, store.DeliveryState{Cursor: pos})) {
		left = append(left, "delivery state")
	}
	if !reflect.DeepEqual(sn.Access, canon(t, tokens.Access{})) {
		left = append(left, "access times")
	}
	for name, v := range map[string]any{"token": sn.Token, "client": sn.Client, "access token": sn.AccessToken, "tenant record": sn.Record} {
		if v != nil {
			left = append(left, name)
		}
	}
	slices.Sort(left)
	return left
}

func testPurge(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	const gone, kept = "gone", "kept"
	f.fillTenant(gone, 2000, s.opts.Writers)
	f.fillTenant(kept, 3, 1)
	goneUsers := ids(f.all(gone, schema.User))
	goneGroup := id(f.all(gone, schema.Group)[0])
	if left := f.snapshot(gone).empty(t, 0); len(left) < 10 {
		t.Fatalf("the fixture fills only %v", left)
	}
	head := f.lastSeq(gone)
	before := f.snapshot(kept)
	if err := f.e.PurgeTenant(ctx, gone); err != nil {
		t.Fatal(err)
	}
	f.purgedAt[gone] = head
	// Only the journal position stays, delivered: the name's sequence
	// goes on.
	if left := f.snapshot(gone).empty(t, head); len(left) != 0 {
		t.Errorf("after the purge the tenant still has %v (its journal position should stay at %d)", left, head)
	}
	for _, u := range goneUsers[:10] {
		f.gone(gone, schema.User, u)
	}
	if got := f.members(gone, goneGroup); len(got) != 0 {
		t.Errorf("the purged group still has %d member edges", len(got))
	}
	if got := f.groups(gone, goneUsers[0]); len(got) != 0 {
		t.Errorf("a purged user is still in %v", got)
	}
	if n, _ := f.e.DeadLetterCount(ctx, gone); n != 0 {
		t.Errorf("%d dead letters left", n)
	}
	if after := f.snapshot(kept); !reflect.DeepEqual(after, before) {
		t.Errorf("the purge changed the other tenant:\nbefore %+v\nafter  %+v", before, after)
	}
	// Purging again, or a tenant that never existed, is no error.
	if err := f.e.PurgeTenant(ctx, gone); err != nil {
		t.Errorf("second purge: %v", err)
	}
	if err := f.e.PurgeTenant(ctx, "never"); err != nil {
		t.Errorf("purge of an unknown tenant: %v", err)
	}
	if left := f.snapshot(gone).empty(t, head); len(left) != 0 {
		t.Errorf("after a second purge the tenant has %v", left)
	}
	// The name can be used again, from a clean slate: the journal goes on
	// after the old one's last sequence, and the old userNames are free.
	u := f.user(gone, "u0@gone.example")
	evs := f.journal(gone)
	if len(evs) != 1 || evs[0].Kind != change.UserCreated || evs[0].ID != u || evs[0].Seq != head+1 {
		t.Errorf("journal of the re-created tenant: %+v; want one event at %d", evs, head+1)
	}
	if got := ids(f.all(gone, schema.User)); !slices.Equal(got, []string{u}) {
		t.Errorf("users of the re-created tenant: %v", got)
	}
	if _, err := f.e.Create(ctx, gone, schema.Group, map[string]any{"displayName": "STAFF"}, nil); err != nil {
		t.Errorf("the purged group's name is still taken: %v", err)
	}
	_, err := f.e.Create(ctx, gone, schema.User, userData("U0@GONE.example"), nil)
	wantSCIM(t, err, http.StatusConflict, "uniqueness")
}

// testReopen checks that everything survives closing and reopening the
// engine: resources, membership, the journal and its sequence, delivery
// state, dead letters, tokens and tenant records, and the uniqueness of
// names.
func testReopen(t *testing.T, s *suite) {
	f := s.fresh(t)
	r, ok := f.e.(Reopener)
	if !ok {
		t.Skip("the engine does not implement Reopener")
	}
	f.fillTenant(acme, 30, 2)
	f.fillTenant(globex, 3, 1)
	users := ids(f.all(acme, schema.User))
	f.update(acme, schema.User, users[0], set("title", "kept"))
	f.del(acme, schema.User, users[1])
	if err := f.e.SaveDeliveryState(f.ctx, acme, store.DeliveryState{Cursor: 5, LastSuccess: time.Now().UTC().Truncate(time.Second)}); err != nil {
		t.Fatal(err)
	}
	before := map[string]snapshot{acme: f.snapshot(acme), globex: f.snapshot(globex)}
	f.e = r.Reopen(t)
	for tn, want := range before {
		if got := f.snapshot(tn); !reflect.DeepEqual(got, want) {
			t.Errorf("%s after reopening:\n got %+v\nwant %+v", tn, got, want)
		}
	}
	head := before[acme].LastSeq
	u := f.user(acme, "after-reopen")
	if evs := f.journal(acme); uint64(len(evs)) != head+1 || evs[head].ID != u {
		t.Errorf("the journal after reopening has %d events, want %d ending with the new user", len(evs), head+1)
	}
	name := f.get(acme, schema.User, users[0])["userName"].(string)
	_, err := f.e.Create(f.ctx, acme, schema.User, userData(strings.ToUpper(name)), nil)
	wantSCIM(t, err, http.StatusConflict, "uniqueness")
	f.del(acme, schema.User, users[2])
	g := id(f.all(acme, schema.Group)[0])
	if slices.Contains(f.members(acme, g), users[2]) {
		t.Error("a delete after reopening left the member edge")
	}
	// A second reopen, after writes since the first.
	f.e = f.e.(Reopener).Reopen(t)
	if got := f.lastSeq(acme); got != head+2 {
		t.Errorf("LastSeq after the second reopen = %d, want %d", got, head+2)
	}
}
