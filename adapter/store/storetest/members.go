package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

func testMembership(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	users := f.users(acme, "u", 5)
	out, err := f.e.Create(ctx, acme, schema.Group, map[string]any{"displayName": "G"},
		[]patch.Member{{Value: users[0]}, {Value: users[1], Type: "User"}, {Value: "no-such-id"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.SkippedMembers, []string{"no-such-id"}) {
		t.Errorf("create skipped %v, want the unknown id", out.SkippedMembers)
	}
	gid := id(out.Resource)
	sub := f.group(acme, "Sub")
	if got := f.members(acme, gid); !reflect.DeepEqual(got, sorted(users[0], users[1])) {
		t.Fatalf("members = %v", got)
	}

	out = f.update(acme, schema.Group, gid, delta(patch.MemberDelta{
		Add: []patch.Member{{Value: users[2]}, {Value: users[0]}, {Value: sub, Type: "Group"}, {Value: gid}, {Value: "ghost"}}}))
	if got := sorted(out.SkippedMembers...); !reflect.DeepEqual(got, sorted("ghost", gid)) {
		t.Errorf("skipped = %v, want the unknown id and the group itself", got)
	}
	gr, err := f.e.Groups(ctx, acme, users[2])
	if err != nil || len(gr) != 1 || gr[0].ID != gid || gr[0].DisplayName != "G" {
		t.Errorf("Groups(u2) = %v, %v", gr, err)
	}
	if got := f.groups(acme, sub); !reflect.DeepEqual(got, []string{gid}) {
		t.Errorf("nested group's groups = %v", got)
	}
	ms, err := f.e.Members(ctx, acme, gid)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if want := map[bool]string{true: "Group", false: "User"}[m.Value == sub]; m.Type != want {
			t.Errorf("member %s has type %q, want %q", m.Value, m.Type, want)
		}
	}
	// Members come in a stable order.
	again, _ := f.e.Members(ctx, acme, gid)
	if !reflect.DeepEqual(ms, again) {
		t.Errorf("members in another order on a second read: %v, then %v", ms, again)
	}
	// A rename shows in the members' Groups.
	f.update(acme, schema.Group, gid, set("displayName", "Renamed"))
	if gr, _ := f.e.Groups(ctx, acme, users[0]); len(gr) != 1 || gr[0].DisplayName != "Renamed" {
		t.Errorf("Groups after a rename = %v", gr)
	}

	// Adding a member who is there and removing one who is not change
	// nothing and journal nothing.
	before := len(f.journal(acme))
	out = f.update(acme, schema.Group, gid, delta(patch.MemberDelta{Add: refs1(users[0]), Remove: []string{users[4]}}))
	if out.Changed {
		t.Error("a membership change that changes nothing reports Changed")
	}
	if n := len(f.journal(acme)); n != before {
		t.Errorf("a membership change that changes nothing journaled %d events", n-before)
	}

	// Remove only the named members, and their reverse edges.
	f.update(acme, schema.Group, gid, delta(patch.MemberDelta{Remove: []string{users[1]}}))
	if got := f.members(acme, gid); !reflect.DeepEqual(got, sorted(users[0], users[2], sub)) {
		t.Errorf("after remove: %v", got)
	}
	if got := f.groups(acme, users[1]); len(got) != 0 {
		t.Errorf("reverse edge left behind: %v", got)
	}

	// Clear with Add replaces the list; Clear alone empties it.
	f.update(acme, schema.Group, gid, delta(patch.MemberDelta{Clear: true, Add: refs(users[3:5])}))
	if got := f.members(acme, gid); !reflect.DeepEqual(got, sorted(users[3], users[4])) {
		t.Errorf("after replace: %v", got)
	}
	for _, gone := range []string{users[0], users[2], sub} {
		if got := f.groups(acme, gone); len(got) != 0 {
			t.Errorf("a replaced member %s is still in %v", gone, got)
		}
	}
	// A member of two groups is removed from both when deleted.
	other := f.group(acme, "Other", users[3])
	f.del(acme, schema.User, users[3])
	if got := f.members(acme, gid); !reflect.DeepEqual(got, []string{users[4]}) {
		t.Errorf("after user delete: %v", got)
	}
	if got := f.members(acme, other); len(got) != 0 {
		t.Errorf("the deleted user is still a member of the other group: %v", got)
	}
	f.update(acme, schema.Group, gid, delta(patch.MemberDelta{Clear: true}))
	if got := f.members(acme, gid); len(got) != 0 {
		t.Errorf("after clear: %v", got)
	}
	// Deleting a group removes it from its groups.
	f.update(acme, schema.Group, other, delta(patch.MemberDelta{Add: refs1(sub)}))
	f.del(acme, schema.Group, sub)
	if got := f.members(acme, other); len(got) != 0 {
		t.Errorf("a deleted group is still a member: %v", got)
	}
	// A deleted resource cannot be added.
	out = f.update(acme, schema.Group, other, delta(patch.MemberDelta{Add: refs1(users[3])}))
	if out.Changed || !reflect.DeepEqual(out.SkippedMembers, []string{users[3]}) {
		t.Errorf("adding a deleted user: changed %v, skipped %v", out.Changed, out.SkippedMembers)
	}
	// Membership of a group or member that does not exist is empty.
	if got := f.members(acme, "no-such-group"); len(got) != 0 {
		t.Errorf("members of nothing: %v", got)
	}
	if got := f.groups(acme, "no-such-user"); len(got) != 0 {
		t.Errorf("groups of nothing: %v", got)
	}
}

// refs1 is one member without a type.
func refs1(v string) []patch.Member { return []patch.Member{{Value: v}} }

// testMemberIDDecidesType: a member's id, not its type, decides whether
// and as what it is added; only ids that name nothing are skipped.
func testMemberIDDecidesType(t *testing.T, s *suite) {
	f := s.fresh(t)
	u := f.user(acme, "u")
	sub := f.group(acme, "Sub")
	cases := []struct {
		name     string
		member   patch.Member
		wantType string
	}{
		{"user said group", patch.Member{Value: u, Type: "Group"}, "User"},
		{"user said user", patch.Member{Value: u, Type: "User"}, "User"},
		{"user said nothing", patch.Member{Value: u}, "User"},
		{"user said group in lower case", patch.Member{Value: u, Type: "group"}, "User"},
		{"group said user", patch.Member{Value: sub, Type: "User"}, "Group"},
		{"group said group", patch.Member{Value: sub, Type: "Group"}, "Group"},
		{"group said nothing", patch.Member{Value: sub}, "Group"},
		{"unknown said group", patch.Member{Value: "ghost", Type: "Group"}, ""},
		{"unknown said user", patch.Member{Value: "ghost", Type: "User"}, ""},
		{"empty", patch.Member{Value: ""}, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gid := f.group(acme, fmt.Sprint("G", i))
			out := f.update(acme, schema.Group, gid, delta(patch.MemberDelta{Add: []patch.Member{tc.member}}))
			ms, err := f.e.Members(f.ctx, acme, gid)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantType == "" {
				if len(ms) != 0 || out.Changed || !reflect.DeepEqual(out.SkippedMembers, []string{tc.member.Value}) {
					t.Errorf("members %v, skipped %v; want none and %q skipped", ms, out.SkippedMembers, tc.member.Value)
				}
				return
			}
			if len(ms) != 1 || ms[0].Value != tc.member.Value || ms[0].Type != tc.wantType || len(out.SkippedMembers) != 0 {
				t.Errorf("members %v, skipped %v; want %s as a %s", ms, out.SkippedMembers, tc.member.Value, tc.wantType)
			}
			if !slices.Contains(f.groups(acme, tc.member.Value), gid) {
				t.Errorf("Groups(%s) lacks %s", tc.member.Value, gid)
			}
			evs := f.journal(acme)
			last := evs[len(evs)-1]
			if last.Kind != change.MembersAdded || last.ID != gid || !reflect.DeepEqual(last.Members, []change.Member{{ID: tc.member.Value, Type: tc.wantType}}) {
				t.Errorf("journaled %+v", last)
			}
		})
	}
}

// testGroupsOf: reading many members' groups at once gives each member
// what Groups gives, also right after a group is deleted.
func testGroupsOf(t *testing.T, s *suite) {
	f := s.fresh(t)
	gl, ok := f.e.(store.GroupLister)
	if !ok {
		t.Skip("the engine does not implement store.GroupLister")
	}
	users := f.users(acme, "g-of-", 12)
	var groups []string
	for g, span := range [][2]int{{0, 6}, {3, 12}, {5, 6}} {
		groups = append(groups, f.group(acme, fmt.Sprint("G", g), users[span[0]:span[1]]...))
	}
	f.del(acme, schema.Group, groups[2])
	all, err := gl.GroupsOf(f.ctx, acme, append(slices.Clone(users), "no-such-user"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		one, err := f.e.Groups(f.ctx, acme, u)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(refIDs(all[u]), refIDs(one)) || len(all[u]) != len(one) {
			t.Errorf("user %s: GroupsOf %v, Groups %v", u, all[u], one)
		}
	}
	want := map[int][]string{0: {groups[0]}, 4: {groups[0], groups[1]}, 5: {groups[0], groups[1]}, 11: {groups[1]}}
	for i, w := range want {
		if got := refIDs(all[users[i]]); !reflect.DeepEqual(got, sorted(w...)) {
			t.Errorf("GroupsOf user %d = %v, want %v", i, got, w)
		}
	}
	for _, r := range all[users[4]] {
		if want := map[string]string{groups[0]: "G0", groups[1]: "G1"}[r.ID]; r.DisplayName != want {
			t.Errorf("group %s named %q, want %q", r.ID, r.DisplayName, want)
		}
	}
	if _, ok := all["no-such-user"]; ok {
		t.Error("a member of nothing is in the map")
	}
	if other, err := gl.GroupsOf(f.ctx, globex, users); err != nil || len(other) != 0 {
		t.Errorf("GroupsOf in another tenant = %v, %v", other, err)
	}
}

// testHugeGroupDelete deletes a group with HugeGroup members: reads never
// show it again, and every edge in both directions goes, while the
// members' other memberships stay.
func testHugeGroupDelete(t *testing.T, s *suite) {
	f := s.fresh(t)
	n := s.opts.HugeGroup
	users := make([]string, n)
	workers := s.opts.Writers
	parallel(workers, func(w int) {
		for i := w; i < n; i += workers {
			out, err := f.e.Create(f.ctx, acme, schema.User, userData(fmt.Sprintf("member%06d", i)), nil)
			if err != nil {
				t.Errorf("create member %d: %v", i, err)
				return
			}
			users[i] = id(out.Resource)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	big := f.group(acme, "Big")
	const batch = 1000
	for i := 0; i < n; i += batch {
		out := f.update(acme, schema.Group, big, delta(patch.MemberDelta{Add: refs(users[i:min(i+batch, n)])}))
		if len(out.SkippedMembers) != 0 {
			t.Fatalf("skipped %v", out.SkippedMembers)
		}
	}
	if got := f.members(acme, big); len(got) != n {
		t.Fatalf("%d members, want %d", len(got), n)
	}
	other := f.group(acme, "Other", users[0], users[n-1])
	// One more member is one more edge, whatever the group's size.
	extra := f.user(acme, "extra")
	start := time.Now()
	f.update(acme, schema.Group, big, delta(patch.MemberDelta{Add: refs1(extra)}))
	t.Logf("adding one member to a group of %d took %v", n, time.Since(start))

	start = time.Now()
	f.del(acme, schema.Group, big)
	t.Logf("deleting a group of %d members took %v", n+1, time.Since(start))
	f.gone(acme, schema.Group, big)
	// Reads never show the deleted group, even while its edges go.
	for _, u := range []string{users[0], users[n/2], users[n-1], extra} {
		if got := f.groups(acme, u); slices.Contains(got, big) {
			t.Fatalf("Groups(%s) still lists the deleted group: %v", u, got)
		}
	}
	if gl, ok := f.e.(store.GroupLister); ok {
		all, err := gl.GroupsOf(f.ctx, acme, users)
		if err != nil {
			t.Fatal(err)
		}
		for u, gs := range all {
			if got := refIDs(gs); !reflect.DeepEqual(got, []string{other}) {
				t.Fatalf("GroupsOf(%s) = %v after the delete, want only the other group", u, got)
			}
		}
		if len(all) != 2 {
			t.Fatalf("GroupsOf finds %d members in groups, want 2", len(all))
		}
	}
	eventually(t, 60*time.Second, func() string {
		if got := f.members(acme, big); len(got) != 0 {
			return fmt.Sprintf("the deleted group still has %d member edges", len(got))
		}
		return ""
	})
	for i := 0; i < n; i += max(1, n/500) {
		if got := f.groups(acme, users[i]); len(got) != 0 && !reflect.DeepEqual(got, []string{other}) {
			t.Fatalf("member %d is left in %v", i, got)
		}
	}
	if got := f.members(acme, other); !reflect.DeepEqual(got, sorted(users[0], users[n-1])) {
		t.Errorf("the other group's members = %v", got)
	}
	// The name is free, and the new group starts empty.
	again := f.group(acme, "big")
	if got := f.members(acme, again); len(got) != 0 {
		t.Errorf("a new group of the same name has %d members", len(got))
	}
	evs := f.journal(acme)
	if last := evs[len(evs)-1]; last.Kind != change.GroupCreated || evs[len(evs)-2].Kind != change.GroupDeleted {
		t.Errorf("journal ends with %s, %s", evs[len(evs)-2].Kind, last.Kind)
	}
}
