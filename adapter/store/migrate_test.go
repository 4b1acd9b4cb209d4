package store

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

func openDir(t *testing.T, dir string) *Badger {
	t.Helper()
	s, err := Open(Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// legacyRename rewrites a user's userName the way a store built with the
// old rule (strings.ToLower) held it, and forgets the rule version, as a
// store written before the rule existed.
func legacyRename(t *testing.T, s *Badger, id, name string) {
	t.Helper()
	err := s.db.Update(func(txn *badger.Txn) error {
		rk := resourceKey(tenant, tUser, id)
		res, err := getRecord(txn, rk)
		if err != nil {
			return err
		}
		old := res["userName"].(string)
		if err := txn.Delete(uniqueKey(tenant, tUser, "userName", fold(old))); err != nil {
			return err
		}
		res["userName"] = name
		if err := txn.Set(uniqueKey(tenant, tUser, "userName", strings.ToLower(name)), []byte(id)); err != nil {
			return err
		}
		if err := setRecord(txn, rk, res); err != nil {
			return err
		}
		return txn.Delete(metaKey(metaIdentRule))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func filterIDs(t *testing.T, s *Badger, f string) []string {
	t.Helper()
	p := list(t, s, schema.User, Query{Filter: parse(t, f), Count: 100})
	var ids []string
	for _, r := range p.Resources {
		ids = append(ids, r["id"].(string))
	}
	sort.Strings(ids)
	return ids
}

func TestIndexesRebuiltForNewIdentifierRule(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openDir(t, dir)
	// Three users that were different names under strings.ToLower and are
	// one name under ident.Fold, plus one bystander.
	a := mustCreate(t, s, tenant, schema.User, user("strasse", "emails", []any{map[string]any{"value": "A@EXAMPLE.COM"}}))["id"].(string)
	b := mustCreate(t, s, tenant, schema.User, user("tmp-b"))["id"].(string)
	c := mustCreate(t, s, tenant, schema.User, user("tmp-c"))["id"].(string)
	d := mustCreate(t, s, tenant, schema.User, user("\uff42\uff4a"))["id"].(string)
	legacyRename(t, s, b, "STRA\u00dfE")
	legacyRename(t, s, c, "stra\u017f\u017fe")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openDir(t, dir)
	defer s.Close()
	if v, err := s.metaUint(metaIdentRule); err != nil || v != identRule {
		t.Fatalf("rule version after open = %d, %v; want %d", v, err, identRule)
	}
	for _, id := range []string{a, b, c, d} {
		if _, err := s.Get(ctx, tenant, schema.User, id); err != nil {
			t.Fatalf("user %s lost in the rebuild: %v", id, err)
		}
	}
	cols, total, err := s.Collisions(ctx, tenant, 10)
	if err != nil || total != 2 || len(cols) != 2 {
		t.Fatalf("collisions = %v, %d, %v; want 2", cols, total, err)
	}
	for _, col := range cols {
		if col.HolderID != a || col.Attr != "userName" || col.Type != "User" || (col.ID != b && col.ID != c) {
			t.Errorf("collision %+v; want b or c colliding with holder a", col)
		}
	}
	// Filters find every resource that bears the name, whichever spelling
	// the filter uses; a create of any spelling is a conflict.
	want := []string{a, b, c}
	sort.Strings(want)
	for _, f := range []string{`userName eq "STRASSE"`, `userName eq "stra\u00dfe"`, `userName eq "Stra\u017f\u017fe"`} {
		if got := filterIDs(t, s, f); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s found %v; want %v", f, got, want)
		}
	}
	if got := filterIDs(t, s, `emails.value eq "a@example.com"`); len(got) != 1 || got[0] != a {
		t.Errorf("equality index not rebuilt: %v", got)
	}
	if got := filterIDs(t, s, `userName eq "BJ"`); len(got) != 1 || got[0] != d {
		t.Errorf("fullwidth name not found by its folded form: %v", got)
	}
	_, err = s.Create(ctx, tenant, schema.User, user("Strasse"), nil)
	wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)

	// Reopened on the current rule, the store still knows its collisions.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	defer s.Close()
	if got := filterIDs(t, s, `userName eq "strasse"`); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("after reopening, the filter found %v; want %v", got, want)
	}
	// A listed collision stays writable under its name.
	if _, err := s.Update(ctx, tenant, schema.User, b, set("active", false)); err != nil {
		t.Fatalf("updating a colliding user: %v", err)
	}
	// The holder goes: the oldest listed collision takes the name over, so
	// the name is still taken.
	if err := s.Delete(ctx, tenant, schema.User, a); err != nil {
		t.Fatal(err)
	}
	_, err = s.Create(ctx, tenant, schema.User, user("strasse"), nil)
	wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
	cols, total, _ = s.Collisions(ctx, tenant, 10)
	if total != 1 || cols[0].HolderID != b || cols[0].ID != c {
		t.Fatalf("after the holder's delete: %+v (%d); want c colliding with b", cols, total)
	}
	// The remaining collision is renamed away: nothing collides, and each
	// name is found once.
	if _, err := s.Update(ctx, tenant, schema.User, c, set("userName", "someone-else")); err != nil {
		t.Fatal(err)
	}
	if _, total, _ = s.Collisions(ctx, tenant, 10); total != 0 {
		t.Fatalf("%d collisions left after the rename", total)
	}
	if got := filterIDs(t, s, `userName eq "strasse"`); len(got) != 1 || got[0] != b {
		t.Errorf("strasse now names %v; want only b", got)
	}
	if got := filterIDs(t, s, `userName eq "SOMEONE-ELSE"`); len(got) != 1 || got[0] != c {
		t.Errorf("renamed user found as %v", got)
	}
}

func TestNewStoreRecordsRuleWithoutRebuild(t *testing.T) {
	s := openMem(t)
	if v, err := s.metaUint(metaIdentRule); err != nil || v != identRule {
		t.Fatalf("rule version of a new store = %d, %v; want %d", v, err, identRule)
	}
	if s.hasCollisions.Load() {
		t.Fatal("a new store reports collisions")
	}
	if _, total, err := s.Collisions(context.Background(), tenant, 10); err != nil || total != 0 {
		t.Fatalf("collisions = %d, %v", total, err)
	}
}
