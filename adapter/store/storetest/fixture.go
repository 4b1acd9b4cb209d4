package storetest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// The tenants the tests write to.
const (
	acme   = "acme"
	globex = "globex"
)

// fixture is one test's engine with helpers that fail the test on an
// unexpected error.
type fixture struct {
	t   *testing.T
	e   Engine
	ctx context.Context
	// purgedAt is where a purged tenant's sequence stopped; its journal
	// goes on after it.
	purgedAt map[string]uint64
}

// fresh opens an empty engine for t.
func (s *suite) fresh(t *testing.T) *fixture {
	t.Helper()
	return &fixture{t: t, e: s.open(t), ctx: context.Background(), purgedAt: map[string]uint64{}}
}

// create stores a resource and returns it as stored.
func (f *fixture) create(tn string, rt *schema.ResourceType, data map[string]any, members ...patch.Member) map[string]any {
	f.t.Helper()
	out, err := f.e.Create(f.ctx, tn, rt, data, members)
	if err != nil {
		f.t.Fatalf("create %s %v in %s: %v", rt.Name, data, tn, err)
	}
	if !out.Changed {
		f.t.Fatalf("create %s %v: Changed is false", rt.Name, data)
	}
	return out.Resource
}

// user creates a user and returns its id.
func (f *fixture) user(tn, name string, extra ...any) string {
	f.t.Helper()
	return id(f.create(tn, schema.User, userData(name, extra...)))
}

// group creates a group with members and returns its id.
func (f *fixture) group(tn, name string, members ...string) string {
	f.t.Helper()
	return id(f.create(tn, schema.Group, map[string]any{"displayName": name}, refs(members)...))
}

// users creates n users named prefix0 … and returns their ids in creation
// order.
func (f *fixture) users(tn, prefix string, n int) []string {
	f.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = f.user(tn, fmt.Sprint(prefix, i))
	}
	return ids
}

// update runs fn on a resource and returns the result.
func (f *fixture) update(tn string, rt *schema.ResourceType, rid string, fn store.UpdateFunc) *store.WriteResult {
	f.t.Helper()
	out, err := f.e.Update(f.ctx, tn, rt, rid, fn)
	if err != nil {
		f.t.Fatalf("update %s %s: %v", rt.Name, rid, err)
	}
	return out
}

// get reads a resource.
func (f *fixture) get(tn string, rt *schema.ResourceType, rid string) map[string]any {
	f.t.Helper()
	res, err := f.e.Get(f.ctx, tn, rt, rid)
	if err != nil {
		f.t.Fatalf("get %s %s: %v", rt.Name, rid, err)
	}
	return res
}

// gone checks that a resource does not exist.
func (f *fixture) gone(tn string, rt *schema.ResourceType, rid string) {
	f.t.Helper()
	_, err := f.e.Get(f.ctx, tn, rt, rid)
	wantSCIM(f.t, err, http.StatusNotFound, "")
}

// del deletes a resource.
func (f *fixture) del(tn string, rt *schema.ResourceType, rid string) {
	f.t.Helper()
	if err := f.e.Delete(f.ctx, tn, rt, rid); err != nil {
		f.t.Fatalf("delete %s %s: %v", rt.Name, rid, err)
	}
}

// list returns one page.
func (f *fixture) list(tn string, rt *schema.ResourceType, q store.Query) *store.Page {
	f.t.Helper()
	p, err := f.e.List(f.ctx, tn, rt, q)
	if err != nil {
		f.t.Fatalf("list %s %+v: %v", rt.Name, q, err)
	}
	if p.Total < len(p.Resources) {
		f.t.Fatalf("list %s: total %d below the %d resources of the page", rt.Name, p.Total, len(p.Resources))
	}
	return p
}

// all lists every resource of a type in creation order.
func (f *fixture) all(tn string, rt *schema.ResourceType) []map[string]any {
	f.t.Helper()
	p := f.list(tn, rt, store.Query{Count: 1 << 30})
	if p.Total != len(p.Resources) {
		f.t.Fatalf("list %s: total %d, %d resources on a page that holds all", rt.Name, p.Total, len(p.Resources))
	}
	return p.Resources
}

// members returns a group's member ids, sorted.
func (f *fixture) members(tn, group string) []string {
	f.t.Helper()
	ms, err := f.e.Members(f.ctx, tn, group)
	if err != nil {
		f.t.Fatalf("members of %s: %v", group, err)
	}
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.Value)
	}
	slices.Sort(ids)
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		f.t.Fatalf("members of %s list a member twice: %v", group, ids)
	}
	return ids
}

// groups returns the ids of the groups member is in, sorted.
func (f *fixture) groups(tn, member string) []string {
	f.t.Helper()
	refs, err := f.e.Groups(f.ctx, tn, member)
	if err != nil {
		f.t.Fatalf("groups of %s: %v", member, err)
	}
	return refIDs(refs)
}

// journal returns a tenant's whole journal and checks that its sequence
// runs from 1 (after purgedAt, for a purged tenant) without a gap, each
// event naming the tenant.
func (f *fixture) journal(tn string) []change.Event {
	f.t.Helper()
	evs, err := f.e.Journal(f.ctx, tn, 0, 1<<30)
	if err != nil {
		f.t.Fatalf("journal of %s: %v", tn, err)
	}
	from := f.purgedAt[tn] + 1
	for i, ev := range evs {
		if ev.Seq != from+uint64(i) {
			f.t.Fatalf("journal of %s: event %d has sequence %d; the sequence must run from %d without a gap", tn, i, ev.Seq, from)
		}
		if ev.Tenant != tn {
			f.t.Fatalf("journal of %s: event %d names tenant %q", tn, ev.Seq, ev.Tenant)
		}
	}
	return evs
}

// lastSeq returns the sequence of a tenant's newest journal event.
func (f *fixture) lastSeq(tn string) uint64 {
	f.t.Helper()
	n, err := f.e.LastSeq(f.ctx, tn)
	if err != nil {
		f.t.Fatalf("LastSeq of %s: %v", tn, err)
	}
	return n
}

// parse parses a filter.
func (f *fixture) parse(expr string) filter.Expr {
	f.t.Helper()
	e, err := filter.Parse(expr)
	if err != nil {
		f.t.Fatalf("parse %q: %v", expr, err)
	}
	return e
}

// path parses an attribute path.
func (f *fixture) path(p string) *filter.Path {
	f.t.Helper()
	ap, err := filter.ParseAttrPath(p)
	if err != nil {
		f.t.Fatalf("parse path %q: %v", p, err)
	}
	return &ap
}

// userData is a user with userName name and the attribute/value pairs
// of extra.
func userData(name string, extra ...any) map[string]any {
	m := map[string]any{"userName": name}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

// id is the id of a stored resource.
func id(res map[string]any) string {
	s, _ := res["id"].(string)
	return s
}

// ids are the ids of resources, in their order.
func ids(res []map[string]any) []string {
	out := make([]string, 0, len(res))
	for _, r := range res {
		out = append(out, id(r))
	}
	return out
}

// attrs are the values of one attribute of resources, in their order.
func attrs(res []map[string]any, attr string) []string {
	out := make([]string, 0, len(res))
	for _, r := range res {
		s, _ := r[attr].(string)
		out = append(out, s)
	}
	return out
}

// refs turns ids into members without a type.
func refs(ids []string) []patch.Member {
	out := make([]patch.Member, 0, len(ids))
	for _, v := range ids {
		out = append(out, patch.Member{Value: v})
	}
	return out
}

// refIDs are the ids of group references, sorted.
func refIDs(refs []store.GroupRef) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	return out
}

// sorted returns a sorted copy of ids.
func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// Set is an update that sets one attribute, for engines' own tests.
func Set(attr string, v any) store.UpdateFunc { return set(attr, v) }

// Delta is an update that changes only membership, for engines' own
// tests.
func Delta(d patch.MemberDelta) store.UpdateFunc { return delta(d) }

// set is an update that sets one attribute.
func set(attr string, v any) store.UpdateFunc {
	return func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
		cur[attr] = v
		return cur, nil, nil
	}
}

// delta is an update that changes only membership.
func delta(d patch.MemberDelta) store.UpdateFunc {
	return func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
		return cur, &d, nil
	}
}

// wantSCIM fails t unless err is a *scimerr.Error with status and
// scimType.
func wantSCIM(t testing.TB, err error, status int, scimType string) {
	t.Helper()
	e, ok := scimerr.As(err)
	if !ok {
		t.Fatalf("want SCIM error %d %q, got %v", status, scimType, err)
	}
	if e.Status != status || e.ScimType != scimType {
		t.Fatalf("got SCIM error %d %q (%s), want %d %q", e.Status, e.ScimType, e.Detail, status, scimType)
	}
}

// isStatus reports whether err is a SCIM error with status.
func isStatus(err error, status int) bool {
	e, ok := scimerr.As(err)
	return ok && e.Status == status
}

// eventually calls check until it returns "" or the deadline passes, and
// then fails t with what check last said.
func eventually(t testing.TB, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parallel runs fn(0) … fn(n-1) in n goroutines and waits for them.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}

// idLess orders ids as seek pages do: by length, then bytewise.
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// idSorted returns ids in seek order.
func idSorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b string) int {
		switch {
		case idLess(a, b):
			return -1
		case idLess(b, a):
			return 1
		}
		return 0
	})
	return out
}
