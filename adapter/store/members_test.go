package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// TestMemberIDDecidesType checks that a member's id, not its type, decides
// whether and as what it is added: a type that names the wrong kind of
// resource still adds the member, stored with the type of what its id
// names, and only ids that name nothing (or the group itself) are skipped.
func TestMemberIDDecidesType(t *testing.T) {
	cases := []struct {
		name     string
		member   func(u, g string) patch.Member
		wantType string
	}{
		{name: "user-said-group", member: func(u, _ string) patch.Member { return patch.Member{Value: u, Type: "Group"} }, wantType: "User"},
		{name: "user-said-user", member: func(u, _ string) patch.Member { return patch.Member{Value: u, Type: "User"} }, wantType: "User"},
		{name: "user-said-nothing", member: func(u, _ string) patch.Member { return patch.Member{Value: u} }, wantType: "User"},
		{name: "group-said-user", member: func(_, g string) patch.Member { return patch.Member{Value: g, Type: "User"} }, wantType: "Group"},
		{name: "group-said-group", member: func(_, g string) patch.Member { return patch.Member{Value: g, Type: "Group"} }, wantType: "Group"},
		{name: "group-said-nothing", member: func(_, g string) patch.Member { return patch.Member{Value: g} }, wantType: "Group"},
		{name: "unknown-said-group", member: func(_, _ string) patch.Member { return patch.Member{Value: "ghost", Type: "Group"} }},
		{name: "unknown-said-user", member: func(_, _ string) patch.Member { return patch.Member{Value: "ghost", Type: "User"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openMem(t)
			ctx := context.Background()
			u := mustCreate(t, s, tenant, schema.User, user("u"))["id"].(string)
			sub := mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": "Sub"})["id"].(string)
			gid := mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": "G"})["id"].(string)
			m := tc.member(u, sub)
			out, err := s.Update(ctx, tenant, schema.Group, gid, setDelta(&patch.MemberDelta{Add: []patch.Member{m}}))
			if err != nil {
				t.Fatal(err)
			}
			ms, err := s.Members(ctx, tenant, gid)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantType == "" {
				if len(ms) != 0 || len(out.SkippedMembers) != 1 || out.SkippedMembers[0] != m.Value {
					t.Errorf("members %v, skipped %v; want none and %q skipped", ms, out.SkippedMembers, m.Value)
				}
				return
			}
			if len(ms) != 1 || ms[0].Value != m.Value || ms[0].Type != tc.wantType || len(out.SkippedMembers) != 0 {
				t.Errorf("members %v, skipped %v; want %s as a %s", ms, out.SkippedMembers, m.Value, tc.wantType)
			}
			groups, err := s.Groups(ctx, tenant, m.Value)
			if err != nil || len(groups) != 1 || groups[0].ID != gid {
				t.Errorf("Groups(%s) = %v, %v", m.Value, groups, err)
			}
		})
	}
}

// TestGroupsOfAgreesWithGroups: reading many members' groups at once gives
// each member what Groups gives, including after a group is deleted while
// its edges are still being removed.
func TestGroupsOfAgreesWithGroups(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	var users []string
	for i := 0; i < 12; i++ {
		users = append(users, mustCreate(t, s, tenant, schema.User, user(fmt.Sprint("g-of-", i)))["id"].(string))
	}
	var groups []string
	for g, span := range [][2]int{{0, 6}, {3, 12}, {5, 6}} {
		var ms []patch.Member
		for _, u := range users[span[0]:span[1]] {
			ms = append(ms, patch.Member{Value: u})
		}
		groups = append(groups, mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": fmt.Sprint("G", g)}, ms...)["id"].(string))
	}
	if err := s.Delete(ctx, tenant, schema.Group, groups[2]); err != nil {
		t.Fatal(err)
	}
	all, err := s.GroupsOf(ctx, tenant, append(users, "no-such-user"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		one, err := s.Groups(ctx, tenant, u)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(all[u]) != fmt.Sprint(one) {
			t.Errorf("user %s: GroupsOf %v, Groups %v", u, all[u], one)
		}
	}
	if len(all[users[4]]) != 2 || len(all[users[5]]) != 2 || len(all[users[11]]) != 1 {
		t.Errorf("memberships: %v", all)
	}
	if _, ok := all["no-such-user"]; ok {
		t.Error("a member of nothing is in the map")
	}
}
