package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// weakETag is the form of meta.version (RFC 7232 §2.3).
var weakETag = regexp.MustCompile(`^W/"[^"]+"$`)

// canon returns v as JSON decodes it, so that a resource returned by a
// write compares equal to the same resource read back.
func canon(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// meta returns a resource's meta attribute.
func meta(t testing.TB, res map[string]any) map[string]any {
	t.Helper()
	m, ok := res["meta"].(map[string]any)
	if !ok {
		t.Fatalf("resource %v has no meta", res)
	}
	return m
}

// version returns a resource's meta.version, checking its form.
func version(t testing.TB, res map[string]any) string {
	t.Helper()
	v, _ := meta(t, res)["version"].(string)
	if !weakETag.MatchString(v) {
		t.Fatalf("meta.version %q is not a weak entity tag", v)
	}
	return v
}

// stamp parses a meta timestamp.
func stamp(t testing.TB, res map[string]any, attr string) time.Time {
	t.Helper()
	s, _ := meta(t, res)[attr].(string)
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("meta.%s %q: %v", attr, s, err)
	}
	return ts
}

func testCreateGetMeta(t *testing.T, s *suite) {
	f := s.fresh(t)
	before := time.Now().Add(-time.Minute)
	data := userData("bjensen", "active", true, "id", "chosen-by-the-client",
		"emails", []any{map[string]any{"value": "bjensen@example.com", "type": "work"}})
	created := f.create(acme, schema.User, data)
	uid := id(created)
	if uid == "" || uid == "chosen-by-the-client" {
		t.Fatalf("id %q: the store assigns ids", uid)
	}
	got := f.get(acme, schema.User, uid)
	if !reflect.DeepEqual(canon(t, got), canon(t, created)) {
		t.Errorf("Get returned %v\nCreate returned %v", got, created)
	}
	if got["userName"] != "bjensen" || got["active"] != true || !reflect.DeepEqual(canon(t, got["emails"]), canon(t, data["emails"])) {
		t.Errorf("stored attributes = %v", got)
	}
	if !reflect.DeepEqual(canon(t, got["schemas"]), []any{schema.UserURN}) {
		t.Errorf("schemas = %v", got["schemas"])
	}
	m := meta(t, got)
	if m["resourceType"] != "User" || m["created"] != m["lastModified"] {
		t.Errorf("meta = %v; want resourceType User and lastModified equal to created", m)
	}
	if c := stamp(t, got, "created"); c.Before(before) || c.After(time.Now().Add(time.Minute)) {
		t.Errorf("created %v is not now", c)
	}
	v1 := version(t, got)

	time.Sleep(2 * time.Millisecond)
	out := f.update(acme, schema.User, uid, set("title", "CEO"))
	if !out.Changed || out.Resource["title"] != "CEO" || out.Resource["userName"] != "bjensen" {
		t.Fatalf("update result = %+v", out)
	}
	got = f.get(acme, schema.User, uid)
	if !reflect.DeepEqual(canon(t, got), canon(t, out.Resource)) {
		t.Errorf("Get after update returned %v\nUpdate returned %v", got, out.Resource)
	}
	if meta(t, got)["created"] != m["created"] {
		t.Errorf("update changed meta.created from %v to %v", m["created"], meta(t, got)["created"])
	}
	if stamp(t, got, "lastModified").Before(stamp(t, got, "created")) {
		t.Errorf("lastModified %v before created", meta(t, got)["lastModified"])
	}
	if version(t, got) == v1 {
		t.Errorf("version %s unchanged by an update", v1)
	}

	u := f.user(acme, "member")
	g := f.create(acme, schema.Group, map[string]any{"displayName": "Staff"}, patch.Member{Value: u})
	gg := f.get(acme, schema.Group, id(g))
	if meta(t, gg)["resourceType"] != "Group" || !reflect.DeepEqual(canon(t, gg["schemas"]), []any{schema.GroupURN}) || gg["displayName"] != "Staff" {
		t.Errorf("group = %v", gg)
	}
	if _, ok := gg["members"]; ok {
		t.Errorf("a stored group carries members: %v", gg)
	}
	if _, ok := f.get(acme, schema.User, u)["groups"]; ok {
		t.Error("a stored user carries groups")
	}
}

func testVersions(t *testing.T, s *suite) {
	f := s.fresh(t)
	u := f.user(acme, "ver", "title", "a")
	seen := map[string]bool{version(t, f.get(acme, schema.User, u)): true}
	for _, title := range []string{"b", "c", "d"} {
		out := f.update(acme, schema.User, u, set("title", title))
		v := version(t, out.Resource)
		if seen[v] {
			t.Fatalf("version %s repeats after changing title to %s", v, title)
		}
		seen[v] = true
	}
	cur := f.get(acme, schema.User, u)
	events := len(f.journal(acme))
	out := f.update(acme, schema.User, u, set("title", "d"))
	if out.Changed {
		t.Error("an update that changes nothing reports Changed")
	}
	if version(t, out.Resource) != version(t, cur) || version(t, f.get(acme, schema.User, u)) != version(t, cur) {
		t.Error("an update that changes nothing changed the version")
	}
	if n := len(f.journal(acme)); n != events {
		t.Errorf("an update that changes nothing journaled %d events", n-events)
	}

	g := f.group(acme, "G")
	gv := version(t, f.get(acme, schema.Group, g))
	uv := version(t, f.get(acme, schema.User, u))
	out = f.update(acme, schema.Group, g, delta(patch.MemberDelta{Add: refs([]string{u})}))
	if !out.Changed || version(t, out.Resource) == gv || version(t, f.get(acme, schema.Group, g)) == gv {
		t.Error("adding a member left the group's version unchanged")
	}
	if version(t, f.get(acme, schema.User, u)) != uv {
		t.Error("joining a group changed the member's version")
	}
}

func testErrors(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	u := f.user(acme, "alice")
	g := f.group(acme, "Sales")
	long := strings.Repeat("x", 1000)
	notFound := []struct {
		name string
		call func() error
	}{
		{"get missing", func() error { _, err := f.e.Get(ctx, acme, schema.User, "missing"); return err }},
		{"get empty id", func() error { _, err := f.e.Get(ctx, acme, schema.User, ""); return err }},
		{"get long id", func() error { _, err := f.e.Get(ctx, acme, schema.User, long); return err }},
		{"get of another tenant", func() error { _, err := f.e.Get(ctx, globex, schema.User, u); return err }},
		{"user as group", func() error { _, err := f.e.Get(ctx, acme, schema.Group, u); return err }},
		{"group as user", func() error { _, err := f.e.Get(ctx, acme, schema.User, g); return err }},
		{"update missing", func() error {
			_, err := f.e.Update(ctx, acme, schema.User, "missing", set("title", "x"))
			return err
		}},
		{"update long id", func() error { _, err := f.e.Update(ctx, acme, schema.User, long, set("title", "x")); return err }},
		{"update of another tenant", func() error {
			_, err := f.e.Update(ctx, globex, schema.User, u, set("title", "x"))
			return err
		}},
		{"delete missing", func() error { return f.e.Delete(ctx, acme, schema.User, "missing") }},
		{"delete of another tenant", func() error { return f.e.Delete(ctx, globex, schema.User, u) }},
		{"delete group as user", func() error { return f.e.Delete(ctx, acme, schema.User, g) }},
		{"delete-if missing", func() error { return f.e.DeleteIf(ctx, acme, schema.User, "missing", nil) }},
	}
	for _, tc := range notFound {
		t.Run(tc.name, func(t *testing.T) { wantSCIM(t, tc.call(), http.StatusNotFound, "") })
	}
	conflicts := []struct {
		name string
		rt   *schema.ResourceType
		data map[string]any
		attr string
	}{
		{"userName", schema.User, userData("ALICE"), "userName"},
		{"displayName", schema.Group, map[string]any{"displayName": "sales"}, "displayName"},
	}
	for _, tc := range conflicts {
		t.Run("conflict "+tc.name, func(t *testing.T) {
			_, err := f.e.Create(ctx, acme, tc.rt, tc.data, nil)
			wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
			if e, _ := scimerr.As(err); !strings.Contains(e.Detail, tc.attr) {
				t.Errorf("detail %q does not name %s", e.Detail, tc.attr)
			}
		})
	}
	t.Run("update error returned unchanged", func(t *testing.T) {
		boom := scimerr.BadRequest(scimerr.InvalidValue, "no")
		_, err := f.e.Update(ctx, acme, schema.User, u, func(map[string]any, patch.Members) (map[string]any, *patch.MemberDelta, error) {
			return nil, nil, boom
		})
		if err != boom {
			t.Fatalf("err = %v, want the update function's error itself", err)
		}
	})
	t.Run("empty tenant refused", func(t *testing.T) {
		if _, err := f.e.Create(ctx, "", schema.User, userData("x"), nil); err == nil {
			t.Error("created a resource in the empty tenant")
		}
		if err := f.e.SaveDeliveryState(ctx, "", store.DeliveryState{Cursor: 1}); err == nil {
			t.Error("saved delivery state of the empty tenant")
		}
	})
}

func testFailedWritesWriteNothing(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	u := f.user(acme, "a", "title", "kept")
	f.user(acme, "b")
	g := f.group(acme, "G", u)
	before := f.journal(acme)
	stored := canon(t, f.get(acme, schema.User, u))
	boom := errors.New("refused")
	fail := func(map[string]any, patch.Members) (map[string]any, *patch.MemberDelta, error) { return nil, nil, boom }
	writes := []struct {
		name string
		call func() error
	}{
		{"update function error", func() error { _, err := f.e.Update(ctx, acme, schema.User, u, fail); return err }},
		{"rename onto a taken name", func() error { _, err := f.e.Update(ctx, acme, schema.User, u, set("userName", "B")); return err }},
		{"update missing", func() error { _, err := f.e.Update(ctx, acme, schema.User, "nope", set("title", "x")); return err }},
		{"delete missing", func() error { return f.e.Delete(ctx, acme, schema.User, "nope") }},
		{"duplicate create", func() error { _, err := f.e.Create(ctx, acme, schema.User, userData("A"), nil); return err }},
		{"refused precondition", func() error {
			return f.e.DeleteIf(ctx, acme, schema.Group, g, func(map[string]any) error { return boom })
		}},
		{"group update error after a member change", func() error {
			_, err := f.e.Update(ctx, acme, schema.Group, g, func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
				return nil, &patch.MemberDelta{Clear: true}, boom
			})
			return err
		}},
	}
	for _, w := range writes {
		if err := w.call(); err == nil {
			t.Fatalf("%s: no error", w.name)
		}
	}
	if after := f.journal(acme); len(after) != len(before) {
		t.Errorf("failed writes journaled %d events", len(after)-len(before))
	}
	if got := canon(t, f.get(acme, schema.User, u)); !reflect.DeepEqual(got, stored) {
		t.Errorf("failed writes changed the user: %v, was %v", got, stored)
	}
	if got := f.members(acme, g); !reflect.DeepEqual(got, []string{u}) {
		t.Errorf("failed writes changed the group's members: %v", got)
	}
	if n := len(f.all(acme, schema.User)); n != 2 {
		t.Errorf("%d users, want 2", n)
	}
}

func testCancelledWrite(t *testing.T, s *suite) {
	f := s.fresh(t)
	u := f.user(acme, "a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	writes := []struct {
		name string
		call func() error
	}{
		{"create", func() error { _, err := f.e.Create(ctx, acme, schema.User, userData("gone"), nil); return err }},
		{"update", func() error { _, err := f.e.Update(ctx, acme, schema.User, u, set("title", "x")); return err }},
		{"delete", func() error { return f.e.Delete(ctx, acme, schema.User, u) }},
	}
	for _, w := range writes {
		if err := w.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", w.name, err)
		}
	}
	if got := attrs(f.all(acme, schema.User), "userName"); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("users after cancelled writes: %v", got)
	}
	if _, ok := f.get(acme, schema.User, u)["title"]; ok {
		t.Error("a cancelled update was written")
	}
	if n := len(f.journal(acme)); n != 1 {
		t.Errorf("%d journal events, want 1", n)
	}
}

func testDeleteIf(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	u := f.user(acme, "a")
	g := f.group(acme, "G", u)
	f.update(acme, schema.User, u, set("title", "x"))
	want := version(t, f.get(acme, schema.User, u))
	events := len(f.journal(acme))

	mismatch := scimerr.New(http.StatusPreconditionFailed, "", "version mismatch")
	for _, c := range []struct {
		rt  *schema.ResourceType
		rid string
	}{{schema.User, u}, {schema.Group, g}} {
		if err := f.e.DeleteIf(ctx, acme, c.rt, c.rid, func(map[string]any) error { return mismatch }); err != mismatch {
			t.Fatalf("DeleteIf %s = %v, want the precondition's error itself", c.rt.Name, err)
		}
	}
	f.get(acme, schema.User, u)
	f.get(acme, schema.Group, g)
	if !reflect.DeepEqual(f.members(acme, g), []string{u}) || !reflect.DeepEqual(f.groups(acme, u), []string{g}) {
		t.Error("a refused delete removed membership edges")
	}
	if n := len(f.journal(acme)); n != events {
		t.Errorf("refused deletes journaled %d events", n-events)
	}

	var seen map[string]any
	err := f.e.DeleteIf(ctx, acme, schema.User, u, func(cur map[string]any) error {
		seen = cur
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if id(seen) != u || seen["title"] != "x" || version(t, seen) != want {
		t.Errorf("the precondition saw %v; want the current state at version %s", seen, want)
	}
	f.gone(acme, schema.User, u)
	if got := f.members(acme, g); len(got) != 0 {
		t.Errorf("members of the group after its member's delete: %v", got)
	}
	if err := f.e.DeleteIf(ctx, acme, schema.Group, g, nil); err != nil {
		t.Fatalf("DeleteIf with a nil check: %v", err)
	}
	f.gone(acme, schema.Group, g)
}

// counter reads the number kept in nickName.
func counter(res map[string]any) int {
	s, _ := res["nickName"].(string)
	n, _ := strconv.Atoi(s)
	return n
}

func testConcurrentUpdates(t *testing.T, s *suite) {
	f := s.fresh(t)
	const n = 60
	users := f.users(acme, "u", n)
	g := f.group(acme, "G")
	errs := make([]error, n)
	parallel(n, func(i int) {
		_, errs[i] = f.e.Update(f.ctx, acme, schema.Group, g, func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
			cur["nickName"] = strconv.Itoa(counter(cur) + 1)
			return cur, &patch.MemberDelta{Add: []patch.Member{{Value: users[i]}}}, nil
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	if got := counter(f.get(acme, schema.Group, g)); got != n {
		t.Errorf("counter is %d after %d concurrent increments", got, n)
	}
	if got := f.members(acme, g); !reflect.DeepEqual(got, sorted(users...)) {
		t.Errorf("%d members after %d concurrent adds", len(got), n)
	}
	// n user creates, the group's create, and per update one group and
	// one membership event.
	if evs := f.journal(acme); len(evs) != n+1+2*n {
		t.Errorf("%d journal events, want %d", len(evs), n+1+2*n)
	}
}

// testConcurrentMixedWrites runs a burst of creates that collide in
// pairs, refused preconditions, updates of nothing and one delete at once:
// each is decided as if the writes had run one by one.
func testConcurrentMixedWrites(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	victim := f.user(acme, "victim")
	kept := f.user(acme, "kept")
	const n = 40
	errs := make([]error, n)
	parallel(n, func(i int) {
		switch {
		case i < 30:
			name := fmt.Sprintf("user%d", i%15)
			if i >= 15 {
				name = strings.ToUpper(name)
			}
			_, errs[i] = f.e.Create(ctx, acme, schema.User, userData(name), nil)
		case i < 35:
			errs[i] = f.e.DeleteIf(ctx, acme, schema.User, kept, func(map[string]any) error {
				return scimerr.New(http.StatusPreconditionFailed, "", "version mismatch")
			})
		case i < 39:
			_, errs[i] = f.e.Update(ctx, acme, schema.User, "no-such-user", set("title", "x"))
		default:
			errs[i] = f.e.Delete(ctx, acme, schema.User, victim)
		}
	})
	for name := range 15 {
		a, b := errs[name], errs[name+15]
		if (a == nil) == (b == nil) {
			t.Fatalf("user%d: errors %v and %v; exactly one of the two creates must win", name, a, b)
		}
		if a == nil {
			a = b
		}
		wantSCIM(t, a, http.StatusConflict, scimerr.Uniqueness)
	}
	for i := 30; i < 35; i++ {
		wantSCIM(t, errs[i], http.StatusPreconditionFailed, "")
	}
	for i := 35; i < 39; i++ {
		wantSCIM(t, errs[i], http.StatusNotFound, "")
	}
	if errs[39] != nil {
		t.Fatalf("delete: %v", errs[39])
	}
	f.get(acme, schema.User, kept)
	f.gone(acme, schema.User, victim)
	if n := len(f.journal(acme)); n != 2+15+1 {
		t.Errorf("%d journal events, want 18", n)
	}
	if n := len(f.all(acme, schema.User)); n != 16 {
		t.Errorf("%d users, want 16", n)
	}
}

func testRefusedRename(t *testing.T, s *suite) {
	f := s.fresh(t)
	f.user(acme, "taken")
	bob := f.user(acme, "bob")
	_, err := f.e.Update(f.ctx, acme, schema.User, bob, set("userName", "TAKEN"))
	wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
	if got := f.get(acme, schema.User, bob)["userName"]; got != "bob" {
		t.Fatalf("userName after a refused rename: %v", got)
	}
	_, err = f.e.Create(f.ctx, acme, schema.User, userData("BOB"), nil)
	wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
	f.user(acme, "third")
	if n := len(f.journal(acme)); n != 3 {
		t.Errorf("%d journal events, want 3", n)
	}
}
