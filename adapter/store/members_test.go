package store

import (
	"context"
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
