package postgres

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store/storetest"
)

func TestUpdateRenamesAndRefuses(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	a, _ := s.Create(ctx, "acme", schema.User, map[string]any{"userName": "alice"}, nil)
	b, _ := s.Create(ctx, "acme", schema.User, map[string]any{"userName": "bob"}, nil)
	ida, idb := a.Resource["id"].(string), b.Resource["id"].(string)

	out, err := s.Update(ctx, "acme", schema.User, ida, storetest.Set("userName", "alicia"))
	if err != nil || !out.Changed || out.Resource["userName"] != "alicia" || out.Resource["meta"].(map[string]any)["version"] != `W/"3"` {
		t.Fatalf("rename: %+v, %v", out, err)
	}
	// The old name is free again, the new one taken.
	if _, err := s.Create(ctx, "acme", schema.User, map[string]any{"userName": "ALICE"}, nil); err != nil {
		t.Fatalf("the old name is still held: %v", err)
	}
	// A rename onto a taken name changes nothing, not even the name it had.
	_, err = s.Update(ctx, "acme", schema.User, idb, storetest.Set("userName", "Alicia"))
	wantStatus(t, err, http.StatusConflict, scimerr.Uniqueness)
	if got, _ := s.Get(ctx, "acme", schema.User, idb); got["userName"] != "bob" {
		t.Fatalf("bob after a refused rename: %v", got)
	}
	_, err = s.Create(ctx, "acme", schema.User, map[string]any{"userName": "Bob"}, nil)
	wantStatus(t, err, http.StatusConflict, scimerr.Uniqueness)

	// Nothing changed: nothing written, no event.
	before, _ := s.LastSeq(ctx, "acme")
	out, err = s.Update(ctx, "acme", schema.User, idb, storetest.Set("userName", "bob"))
	if err != nil || out.Changed {
		t.Fatalf("a no-op update: %+v, %v", out, err)
	}
	if after, _ := s.LastSeq(ctx, "acme"); after != before {
		t.Fatalf("a no-op update journaled: %d → %d", before, after)
	}
	// The function's own error comes back unchanged.
	refuse := errors.New("refused")
	if _, err := s.Update(ctx, "acme", schema.User, idb, func(map[string]any, patch.Members) (map[string]any, *patch.MemberDelta, error) {
		return nil, nil, refuse
	}); err != refuse {
		t.Fatalf("the update function's error: %v", err)
	}
	_, err = s.Update(ctx, "acme", schema.User, "no-such-id", storetest.Set("title", "x"))
	wantStatus(t, err, http.StatusNotFound, "")
}

func TestMembershipDeltas(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	var ids []string
	for _, n := range []string{"u1", "u2", "u3"} {
		out, _ := s.Create(ctx, "acme", schema.User, map[string]any{"userName": n}, nil)
		ids = append(ids, out.Resource["id"].(string))
	}
	g, _ := s.Create(ctx, "acme", schema.Group, map[string]any{"displayName": "G"}, []patch.Member{{Value: ids[0]}})
	gid := g.Resource["id"].(string)
	members := func() []string {
		ms, err := s.Members(ctx, "acme", gid)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.Value)
		}
		return out
	}
	seq0, _ := s.LastSeq(ctx, "acme")
	out, err := s.Update(ctx, "acme", schema.Group, gid, storetest.Delta(patch.MemberDelta{Add: []patch.Member{{Value: ids[1]}, {Value: ids[0]}, {Value: "ghost"}}, Remove: []string{ids[0]}}))
	if err != nil || !out.Changed || len(out.SkippedMembers) != 1 || out.SkippedMembers[0] != "ghost" {
		t.Fatalf("add and remove: %+v, %v", out, err)
	}
	if got := members(); len(got) != 1 || got[0] != ids[1] {
		t.Fatalf("members %v, want only u2", got)
	}
	evs, _ := s.Journal(ctx, "acme", seq0, 10)
	kinds := map[change.Kind]int{}
	for _, e := range evs {
		kinds[e.Kind] += len(e.Members)
	}
	if kinds[change.MembersAdded] != 1 || kinds[change.MembersRemoved] != 1 {
		t.Fatalf("events %+v", evs)
	}
	// Re-adding a member changes nothing.
	if out, err := s.Update(ctx, "acme", schema.Group, gid, storetest.Delta(patch.MemberDelta{Add: []patch.Member{{Value: ids[1]}}})); err != nil || out.Changed {
		t.Fatalf("re-add: %+v, %v", out, err)
	}
	// Clear keeps only what the delta adds.
	if _, err := s.Update(ctx, "acme", schema.Group, gid, storetest.Delta(patch.MemberDelta{Clear: true, Add: []patch.Member{{Value: ids[2]}}})); err != nil {
		t.Fatal(err)
	}
	if got := members(); len(got) != 1 || got[0] != ids[2] {
		t.Fatalf("members after replace %v", got)
	}
	// The members reader inside the write sees the current members.
	var seen []patch.Member
	if _, err := s.Update(ctx, "acme", schema.Group, gid, func(cur map[string]any, ms patch.Members) (map[string]any, *patch.MemberDelta, error) {
		var err error
		seen, err = ms.List(context.Background())
		return cur, nil, err
	}); err != nil || len(seen) != 1 || seen[0].Value != ids[2] {
		t.Fatalf("members read in the write: %v, %v", seen, err)
	}
}

func TestDeleteIfAndDelete(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	u, _ := s.Create(ctx, "acme", schema.User, map[string]any{"userName": "u", "externalId": "x1"}, nil)
	uid := u.Resource["id"].(string)
	g, _ := s.Create(ctx, "acme", schema.Group, map[string]any{"displayName": "G"}, []patch.Member{{Value: uid}})
	gid := g.Resource["id"].(string)
	refuse := errors.New("version mismatch")
	if err := s.DeleteIf(ctx, "acme", schema.User, uid, func(map[string]any) error { return refuse }); err != refuse {
		t.Fatalf("a refused precondition: %v", err)
	}
	if _, err := s.Get(ctx, "acme", schema.User, uid); err != nil {
		t.Fatal("a refused precondition deleted the user")
	}
	if err := s.Delete(ctx, "acme", schema.User, uid); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx, "acme", schema.User, uid)
	wantStatus(t, err, http.StatusNotFound, "")
	if ms, _ := s.Members(ctx, "acme", gid); len(ms) != 0 {
		t.Fatalf("the deleted user is still a member: %v", ms)
	}
	// Its name and index rows are gone: the name is free again.
	if _, err := s.Create(ctx, "acme", schema.User, map[string]any{"userName": "U", "externalId": "x1"}, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM scim_index WHERE tenant = 'acme' AND id = $1`, uid).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d index rows of the deleted user, %v", n, err)
	}
	err = s.Delete(ctx, "acme", schema.User, uid)
	wantStatus(t, err, http.StatusNotFound, "")
	if err := s.Delete(ctx, "acme", schema.Group, gid); err != nil {
		t.Fatal(err)
	}
	evs, _ := s.Journal(ctx, "acme", 0, 100)
	last := evs[len(evs)-1]
	if last.Kind != change.GroupDeleted || last.ID != gid {
		t.Fatalf("last event %+v", last)
	}
	var users, groups int64
	if err := s.pool.QueryRow(ctx, `SELECT user_count, group_count FROM scim_tenant_state WHERE tenant = 'acme'`).Scan(&users, &groups); err != nil || users != 1 || groups != 0 {
		t.Fatalf("counts %d users, %d groups, %v", users, groups, err)
	}
}
