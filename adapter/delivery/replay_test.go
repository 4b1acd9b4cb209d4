package delivery

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// TestReplayNeverRegresses dead-letters a series of events, changes the
// resources they are about, and replays them all: each replayed event says
// what is true now, or is dropped.
func TestReplayNeverRegresses(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	var refusing atomic.Bool
	be := &backend{fault: func(_ int, ev change.Event) error {
		if refusing.Load() {
			return invalidError{"refused: " + string(ev.Kind)}
		}
		return nil
	}}
	opts := fast()
	opts.MaxInvalidAttempts = 1
	d := start(t, s, opts)
	d.SetTarget(tenant, be)
	ns := Notifying(s, d)

	a := createUser(t, ns, tenant, "a")
	b := createUser(t, ns, tenant, "b")
	c := createUser(t, ns, tenant, "c")
	u := createUser(t, ns, tenant, "u", "active", true)
	grp, err := ns.Create(ctx, tenant, schema.Group, map[string]any{"displayName": "G"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := grp.Resource["id"].(string)
	waitFor(t, 5*time.Second, "the setup", func() bool { return be.lastSeq() == 5 })

	// Everything from here is refused and dead-lettered.
	refusing.Store(true)
	// 6: a, b and c join; 7: c leaves; 8: a leaves.
	update(t, ns, tenant, schema.Group, g, members(patch.MemberDelta{Add: []patch.Member{{Value: a}, {Value: b}, {Value: c}}}))
	update(t, ns, tenant, schema.Group, g, members(patch.MemberDelta{Remove: []string{c}}))
	update(t, ns, tenant, schema.Group, g, members(patch.MemberDelta{Remove: []string{a}}))
	// 9: u gets a title; 10: u is deactivated.
	update(t, ns, tenant, schema.User, u, set("title", "first"))
	update(t, ns, tenant, schema.User, u, set("active", false))
	// 11: x is created; 12: x is deleted.
	x := createUser(t, ns, tenant, "x")
	if err := ns.Delete(ctx, tenant, schema.User, x); err != nil {
		t.Fatal(err)
	}
	// 13: the group is renamed.
	update(t, ns, tenant, schema.Group, g, set("displayName", "G2"))
	waitFor(t, 10*time.Second, "the dead letters", func() bool { return status(t, d, tenant).DeadLetters == 8 })

	// Later changes, delivered.
	refusing.Store(false)
	// 14: a joins again; 15: u is reactivated; 16: u gets another title;
	// 17: the group is renamed again.
	update(t, ns, tenant, schema.Group, g, members(patch.MemberDelta{Add: []patch.Member{{Value: a}}}))
	update(t, ns, tenant, schema.User, u, set("active", true))
	update(t, ns, tenant, schema.User, u, set("title", "second"))
	update(t, ns, tenant, schema.Group, g, set("displayName", "G3"))
	waitFor(t, 5*time.Second, "the later changes", func() bool { return be.lastSeq() == 17 })

	replayed, err := d.Replay(ctx, tenant, []uint64{13, 12, 11, 10, 9, 8, 7, 6, 6})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{18, 19, 20, 21, 22, 23}; !reflect.DeepEqual(replayed, want) {
		t.Fatalf("replayed = %v, want %v", replayed, want)
	}
	waitFor(t, 5*time.Second, "the replayed events", func() bool { return be.lastSeq() == 23 })
	applied, _, _ := be.snapshot()
	got := applied[len(applied)-6:]

	group, _ := s.Get(ctx, tenant, schema.Group, g)
	user, _ := s.Get(ctx, tenant, schema.User, u)
	want := []struct {
		kind     change.Kind
		id       string
		members  []string
		resource map[string]any
	}{
		// 6: a was removed and added back, b is still in, c left again.
		{change.MembersAdded, g, []string{a, b}, group},
		// 7: c is still out.
		{change.MembersRemoved, g, []string{c}, group},
		// 8: dropped, a is back in.
		// 9: the current user, with the later title.
		{change.UserUpdated, u, nil, user},
		// 10: the user is active again: a deactivation would regress.
		{change.UserReactivated, u, nil, user},
		// 11: dropped, x is gone.
		// 12: the deletion replays as it was.
		{change.UserDeleted, x, nil, nil},
		// 13: the current group.
		{change.GroupUpdated, g, nil, group},
	}
	for i, w := range want {
		ev := got[i]
		var ids []string
		for _, m := range ev.Members {
			ids = append(ids, m.ID)
		}
		if ev.Seq != replayed[i] || ev.Kind != w.kind || ev.ID != w.id || !reflect.DeepEqual(ids, w.members) {
			t.Errorf("replayed event %d = seq %d %s %s %v, want seq %d %s %s %v", i, ev.Seq, ev.Kind, ev.ID, ids, replayed[i], w.kind, w.id, w.members)
		}
		if w.resource != nil && fmt.Sprint(ev.Resource) != fmt.Sprint(w.resource) {
			t.Errorf("replayed event %d carries\n%v\nnot the current state\n%v", i, ev.Resource, w.resource)
		}
	}
	if del := got[4]; del.Resource["userName"] != "x" {
		t.Errorf("replayed deletion lost its resource: %v", del.Resource)
	}
	if n := status(t, d, tenant).DeadLetters; n != 0 {
		t.Errorf("%d dead letters left", n)
	}
}

// TestReplayDropsMembershipOfDeletedGroup: nothing is left to deliver of a
// membership event once its group is gone.
func TestReplayDropsMembershipOfDeletedGroup(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	be := &backend{fault: func(_ int, ev change.Event) error {
		if ev.Kind == change.MembersAdded {
			return invalidError{"no"}
		}
		return nil
	}}
	opts := fast()
	opts.MaxInvalidAttempts = 1
	d := start(t, s, opts)
	d.SetTarget(tenant, be)
	a := createUser(t, s, tenant, "a")
	grp, err := s.Create(ctx, tenant, schema.Group, map[string]any{"displayName": "G"}, []patch.Member{{Value: a}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, tenant, schema.Group, grp.Resource["id"].(string)); err != nil {
		t.Fatal(err)
	}
	d.Notify(tenant)
	waitFor(t, 5*time.Second, "delivery", func() bool { return be.lastSeq() == 4 })
	replayed, err := d.Replay(ctx, tenant, []uint64{3})
	if err != nil || len(replayed) != 0 {
		t.Fatalf("Replay = %v, %v; want nothing replayed", replayed, err)
	}
	if head := lastSeq(t, s, tenant); head != 4 {
		t.Errorf("head = %d, want 4", head)
	}
	if n := status(t, d, tenant).DeadLetters; n != 0 {
		t.Errorf("%d dead letters left", n)
	}
	if r, err := d.Replay(ctx, tenant, nil); err != nil || r != nil {
		t.Errorf("Replay(nil) = %v, %v", r, err)
	}
}
