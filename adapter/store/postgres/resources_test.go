package postgres

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

func wantStatus(t *testing.T, err error, status int, scimType string) {
	t.Helper()
	e, ok := scimerr.As(err)
	if !ok || e.Status != status || e.ScimType != scimType {
		t.Fatalf("got %v, want SCIM %d %s", err, status, scimType)
	}
}

func TestCreateAndGet(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	out, err := s.Create(ctx, "acme", schema.User, map[string]any{"userName": "Bjensen@Example.com", "emails": []any{map[string]any{"value": "b@example.com"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := out.Resource["id"].(string)
	meta := out.Resource["meta"].(map[string]any)
	if meta["version"] != `W/"1"` || meta["resourceType"] != "User" {
		t.Fatalf("meta %v", meta)
	}
	got, err := s.Get(ctx, "acme", schema.User, id)
	if err != nil || got["userName"] != "Bjensen@Example.com" {
		t.Fatalf("Get = %v, %v", got, err)
	}
	raw, err := s.GetRaw(ctx, "acme", schema.User, id)
	if err != nil || len(raw) == 0 || raw[0] != '{' {
		t.Fatalf("GetRaw = %s, %v", raw, err)
	}
	for _, c := range []struct{ tenant, id string }{{"acme", "nope"}, {"contoso", id}, {"acme", ""}} {
		_, err := s.Get(ctx, c.tenant, schema.User, c.id)
		wantStatus(t, err, http.StatusNotFound, "")
	}
	if _, err := s.Get(ctx, "acme", schema.Group, id); err == nil {
		t.Fatal("a user was found as a group")
	}
	// The same name in another case, or in another width, is taken.
	for _, name := range []string{"bjensen@example.com", "ＢＪＥＮＳＥＮ@EXAMPLE.COM"} {
		_, err := s.Create(ctx, "acme", schema.User, map[string]any{"userName": name}, nil)
		wantStatus(t, err, http.StatusConflict, scimerr.Uniqueness)
	}
	// In another tenant it is free.
	if _, err := s.Create(ctx, "contoso", schema.User, map[string]any{"userName": "bjensen@example.com"}, nil); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Journal(ctx, "acme", 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Kind != change.UserCreated || evs[0].ID != id || evs[0].Seq != 1 {
		t.Fatalf("journal %+v, %v", evs, err)
	}
}

func TestGroupCreateWithMembers(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	u1, _ := s.Create(ctx, "acme", schema.User, map[string]any{"userName": "u1"}, nil)
	u2, _ := s.Create(ctx, "acme", schema.User, map[string]any{"userName": "u2"}, nil)
	inner, _ := s.Create(ctx, "acme", schema.Group, map[string]any{"displayName": "Inner"}, nil)
	id1, id2, gi := u1.Resource["id"].(string), u2.Resource["id"].(string), inner.Resource["id"].(string)
	out, err := s.Create(ctx, "acme", schema.Group, map[string]any{"displayName": "Outer"}, []patch.Member{
		{Value: id1}, {Value: id2, Type: "Group"}, {Value: gi, Type: "User"}, {Value: "no-such-id"}, {Value: id1},
	})
	if err != nil {
		t.Fatal(err)
	}
	outer := out.Resource["id"].(string)
	if len(out.SkippedMembers) != 1 || out.SkippedMembers[0] != "no-such-id" {
		t.Fatalf("skipped %v", out.SkippedMembers)
	}
	ms, err := s.Members(ctx, "acme", outer)
	if err != nil || len(ms) != 3 {
		t.Fatalf("members %v, %v", ms, err)
	}
	types := map[string]string{}
	for _, m := range ms {
		types[m.Value] = m.Type
	}
	// The id decides the type, whatever the request said.
	if types[id1] != "User" || types[id2] != "User" || types[gi] != "Group" {
		t.Fatalf("member types %v", types)
	}
	gs, err := s.Groups(ctx, "acme", id1)
	if err != nil || len(gs) != 1 || gs[0].ID != outer || gs[0].DisplayName != "Outer" {
		t.Fatalf("groups of u1: %v, %v", gs, err)
	}
	all, err := s.GroupsOf(ctx, "acme", []string{id1, gi, "nobody"})
	if err != nil || len(all[id1]) != 1 || len(all[gi]) != 1 || len(all["nobody"]) != 0 {
		t.Fatalf("GroupsOf %v, %v", all, err)
	}
	evs, _ := s.Journal(ctx, "acme", 3, 10)
	if len(evs) != 2 || evs[0].Kind != change.GroupCreated || evs[1].Kind != change.MembersAdded || len(evs[1].Members) != 3 {
		t.Fatalf("group events %+v", evs)
	}
	var users, groups int64
	if err := s.pool.QueryRow(ctx, `SELECT user_count, group_count FROM scim_tenant_state WHERE tenant = 'acme'`).Scan(&users, &groups); err != nil || users != 2 || groups != 2 {
		t.Fatalf("counts %d users, %d groups, %v", users, groups, err)
	}
}

// TestUniqueAcrossInstances: instances creating the same name in
// different spellings at once: exactly one create wins per name.
func TestUniqueAcrossInstances(t *testing.T) {
	ctx := context.Background()
	dsn := pgtestDSN(t)
	var stores []*Store
	for i := 0; i < 3; i++ {
		s, err := Open(ctx, Options{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	spellings := []string{"same", "SAME", "Same", "ｓａｍｅ"}
	var mu sync.Mutex
	wins := map[string]int{}
	var wg sync.WaitGroup
	for i, s := range stores {
		for j, name := range spellings {
			for k := 0; k < 3; k++ {
				wg.Add(1)
				go func(s *Store, name string, n int) {
					defer wg.Done()
					_, err := s.Create(ctx, "acme", schema.User, map[string]any{"userName": fmt.Sprintf("%s-%d", name, n)}, nil)
					if err == nil {
						mu.Lock()
						wins[fmt.Sprint(n)]++
						mu.Unlock()
						return
					}
					if e, ok := scimerr.As(err); !ok || e.Status != http.StatusConflict {
						t.Error(err)
					}
				}(s, name, (i+j+k)%2)
			}
		}
	}
	wg.Wait()
	if wins["0"] != 1 || wins["1"] != 1 {
		t.Fatalf("wins per name %v, want exactly one each", wins)
	}
	evs, _ := stores[0].Journal(ctx, "acme", 0, 100)
	if len(evs) != 2 || evs[0].Seq != 1 || evs[1].Seq != 2 {
		t.Fatalf("journal %+v", evs)
	}
}
