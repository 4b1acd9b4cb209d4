package store

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

const tenant = "acme"

func openMem(t testing.TB) *Badger {
	t.Helper()
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCreate(t testing.TB, s Store, tn string, rt *schema.ResourceType, data map[string]any, members ...patch.Member) map[string]any {
	t.Helper()
	out, err := s.Create(context.Background(), tn, rt, data, members)
	if err != nil {
		t.Fatalf("create %v: %v", data, err)
	}
	return out.Resource
}

func user(name string, extra ...any) map[string]any {
	m := map[string]any{"userName": name}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func wantSCIM(t *testing.T, err error, status int, scimType string) *scimerr.Error {
	t.Helper()
	e, ok := scimerr.As(err)
	if !ok {
		t.Fatalf("want SCIM error %d %s, got %v", status, scimType, err)
	}
	if e.Status != status || e.ScimType != scimType {
		t.Fatalf("got %d %s (%s), want %d %s", e.Status, e.ScimType, e.Detail, status, scimType)
	}
	return e
}

func setDelta(d *patch.MemberDelta) UpdateFunc {
	return func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
		return cur, d, nil
	}
}

func set(attr string, v any) UpdateFunc {
	return func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
		cur[attr] = v
		return cur, nil, nil
	}
}

func memberIDs(t *testing.T, s Store, group string) []string {
	t.Helper()
	ms, err := s.Members(context.Background(), tenant, group)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.Value)
	}
	sort.Strings(ids)
	return ids
}

func TestCreateGetMeta(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	s, err := Open(Options{InMemory: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res := mustCreate(t, s, tenant, schema.User, user("bjensen", "active", true))
	id := res["id"].(string)
	if len(id) != 36 {
		t.Fatalf("id %q is not a UUID", id)
	}
	got, err := s.Get(context.Background(), tenant, schema.User, id)
	if err != nil {
		t.Fatal(err)
	}
	meta := got["meta"].(map[string]any)
	if meta["resourceType"] != "User" || meta["created"] != "2026-03-04T05:06:07Z" || meta["lastModified"] != "2026-03-04T05:06:07Z" || meta["version"] != `W/"1"` {
		t.Errorf("meta = %v", meta)
	}
	if !reflect.DeepEqual(got["schemas"], []any{schema.UserURN}) {
		t.Errorf("schemas = %v", got["schemas"])
	}
	now = now.Add(time.Hour)
	out, err := s.Update(context.Background(), tenant, schema.User, id, set("title", "CEO"))
	if err != nil {
		t.Fatal(err)
	}
	meta = out.Resource["meta"].(map[string]any)
	if meta["created"] != "2026-03-04T05:06:07Z" || meta["lastModified"] != "2026-03-04T06:06:07Z" || meta["version"] != `W/"2"` {
		t.Errorf("meta after update = %v", meta)
	}
	_, err = s.Get(context.Background(), tenant, schema.User, "missing")
	wantSCIM(t, err, http.StatusNotFound, "")
	_, err = s.Get(context.Background(), "other", schema.User, id)
	wantSCIM(t, err, http.StatusNotFound, "")
}

func TestUniquenessIsCaseInsensitive(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	a := mustCreate(t, s, tenant, schema.User, user("Alice@Example.com"))
	_, err := s.Create(ctx, tenant, schema.User, user("alice@example.COM"), nil)
	e := wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
	if !strings.Contains(e.Detail, "userName") {
		t.Errorf("detail %q does not name userName", e.Detail)
	}
	// Another tenant has its own namespace.
	mustCreate(t, s, "other", schema.User, user("alice@example.com"))
	// A rename that only changes case keeps the name.
	if _, err := s.Update(ctx, tenant, schema.User, a["id"].(string), set("userName", "ALICE@example.com")); err != nil {
		t.Fatalf("case-only rename: %v", err)
	}
	b := mustCreate(t, s, tenant, schema.User, user("bob"))
	_, err = s.Update(ctx, tenant, schema.User, b["id"].(string), set("userName", "alice@EXAMPLE.com"))
	wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
	// Renaming frees the old name.
	if _, err := s.Update(ctx, tenant, schema.User, a["id"].(string), set("userName", "alice2")); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, tenant, schema.User, user("alice@example.com"))
	// Deleting frees the name too.
	if err := s.Delete(ctx, tenant, schema.User, b["id"].(string)); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, tenant, schema.User, user("BOB"))

	mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": "Sales"})
	_, err = s.Create(ctx, tenant, schema.Group, map[string]any{"displayName": "SALES"}, nil)
	wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
}

func TestConcurrentCreatesOneWins(t *testing.T) {
	s := openMem(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := s.Create(context.Background(), tenant, schema.User, user(fmt.Sprintf("SAME-%s", strings.Repeat("x", i%2))), nil)
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if wins != 2 {
		t.Fatalf("%d creates won, want exactly 2 (one per distinct name)", wins)
	}
}

func list(t *testing.T, s Store, rt *schema.ResourceType, q Query) *Page {
	t.Helper()
	p, err := s.List(context.Background(), tenant, rt, q)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func parse(t *testing.T, f string) filter.Expr {
	t.Helper()
	e, err := filter.Parse(f)
	if err != nil {
		t.Fatalf("parse %q: %v", f, err)
	}
	return e
}

func TestIndexedFiltersDoNotScan(t *testing.T) {
	s := openMem(t)
	for i := 0; i < 300; i++ {
		mustCreate(t, s, tenant, schema.User, user(fmt.Sprintf("User%03d@example.com", i),
			"externalId", fmt.Sprintf("Ext-%d", i),
			"displayName", fmt.Sprintf("User %d", i),
			"emails", []any{map[string]any{"value": fmt.Sprintf("mail%d@example.com", i), "type": "work"}}))
	}
	mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": "Printers", "externalId": "g-1"})
	tests := []struct {
		rt     *schema.ResourceType
		filter string
		want   int
	}{
		{schema.User, `userName eq "user042@EXAMPLE.com"`, 1},
		{schema.User, `USERNAME eq "user042@example.com"`, 1},
		{schema.User, `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "user042@example.com"`, 1},
		{schema.User, `externalId eq "Ext-7"`, 1},
		{schema.User, `externalId eq "ext-7"`, 0}, // externalId is caseExact
		{schema.User, `externalId eq Ext-7`, 1},   // Entra's unquoted form
		{schema.User, `emails.value eq "MAIL9@example.com"`, 1},
		{schema.User, `emails[type eq "work"].value eq "mail9@example.com"`, 1},
		{schema.User, `emails[type eq "home"].value eq "mail9@example.com"`, 0},
		{schema.User, `emails[value eq "mail9@example.com"]`, 1},
		{schema.User, `displayName eq "user 12"`, 1},
		{schema.User, `userName eq "user001@example.com" or userName eq "user002@example.com"`, 2},
		{schema.User, `userName eq "user001@example.com" and active eq true`, 0},
		{schema.User, `userName eq "nobody"`, 0},
		{schema.Group, `displayName eq "printers"`, 1},
		{schema.Group, `externalId eq "g-1"`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			before := s.scanned.Load()
			p := list(t, s, tt.rt, Query{Filter: parse(t, tt.filter), Count: 10})
			if p.Total != tt.want || len(p.Resources) != tt.want {
				t.Errorf("total %d, %d resources; want %d", p.Total, len(p.Resources), tt.want)
			}
			if n := s.scanned.Load() - before; n != 0 {
				t.Errorf("scanned %d resources; an indexed filter must not scan", n)
			}
		})
	}
	t.Run("unindexed filter scans and still matches", func(t *testing.T) {
		before := s.scanned.Load()
		p := list(t, s, schema.User, Query{Filter: parse(t, `userName sw "user01"`), Count: 100})
		if p.Total != 10 {
			t.Errorf("total = %d, want 10", p.Total)
		}
		if s.scanned.Load()-before != 300 {
			t.Errorf("scanned %d, want 300", s.scanned.Load()-before)
		}
	})
}

func TestPaginationIsStable(t *testing.T) {
	s := openMem(t)
	var ids []string
	for i := 0; i < 25; i++ {
		ids = append(ids, mustCreate(t, s, tenant, schema.User, user(fmt.Sprintf("u%02d", 24-i)))["id"].(string))
	}
	var got []string
	for start := 1; start <= 25; start += 10 {
		p := list(t, s, schema.User, Query{StartIndex: start, Count: 10})
		if p.Total != 25 {
			t.Fatalf("total = %d", p.Total)
		}
		for _, r := range p.Resources {
			got = append(got, r["id"].(string))
		}
	}
	if !reflect.DeepEqual(got, ids) {
		t.Errorf("pages are not in creation order:\n got %v\nwant %v", got, ids)
	}
	if p := list(t, s, schema.User, Query{StartIndex: 100, Count: 10}); p.Total != 25 || len(p.Resources) != 0 {
		t.Errorf("past the end: %d / %d", p.Total, len(p.Resources))
	}
	if p := list(t, s, schema.User, Query{Count: 0}); p.Total != 25 || len(p.Resources) != 0 {
		t.Errorf("count=0: %d / %d", p.Total, len(p.Resources))
	}
	// A filtered list pages in the same order.
	p := list(t, s, schema.User, Query{Filter: parse(t, `userName sw "u"`), StartIndex: 11, Count: 5})
	if p.Total != 25 || len(p.Resources) != 5 || p.Resources[0]["id"] != ids[10] {
		t.Errorf("filtered page: total %d, first %v", p.Total, p.Resources[0]["id"])
	}
}

func TestSort(t *testing.T) {
	s := openMem(t)
	for _, n := range []string{"carol", "Alice", "bob"} {
		mustCreate(t, s, tenant, schema.User, user(n))
	}
	mustCreate(t, s, tenant, schema.User, user("dave", "name", map[string]any{"familyName": "Aardvark"}))
	names := func(p *Page) []string {
		var out []string
		for _, r := range p.Resources {
			out = append(out, r["userName"].(string))
		}
		return out
	}
	path := func(s string) *filter.Path {
		p, err := filter.ParseAttrPath(s)
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	if got := names(list(t, s, schema.User, Query{SortBy: path("userName"), Count: 10})); !reflect.DeepEqual(got, []string{"Alice", "bob", "carol", "dave"}) {
		t.Errorf("ascending = %v", got)
	}
	if got := names(list(t, s, schema.User, Query{SortBy: path("username"), Descending: true, Count: 2, StartIndex: 2})); !reflect.DeepEqual(got, []string{"carol", "bob"}) {
		t.Errorf("descending page 2 = %v", got)
	}
	// Extension attributes sort by value, with or without their URN.
	for i, n := range []string{"9", "10", "2"} {
		mustCreate(t, s, tenant, schema.User, user(fmt.Sprintf("emp%d", i), schema.EnterpriseUserURN, map[string]any{"employeeNumber": n, "department": "D"}))
	}
	for _, by := range []string{"employeeNumber", schema.EnterpriseUserURN + ":employeeNumber"} {
		got := names(list(t, s, schema.User, Query{Filter: parse(t, `department eq "D"`), SortBy: path(by), Count: 10}))
		if !reflect.DeepEqual(got, []string{"emp1", "emp2", "emp0"}) {
			t.Errorf("sortBy %s = %v (employeeNumber is a string: \"10\" < \"2\" < \"9\")", by, got)
		}
	}
	// Unassigned values sort last.
	if got := names(list(t, s, schema.User, Query{SortBy: path("name.familyName"), Count: 1})); !reflect.DeepEqual(got, []string{"dave"}) {
		t.Errorf("by familyName = %v", got)
	}
}

func TestMembership(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	var users []string
	for i := 0; i < 5; i++ {
		users = append(users, mustCreate(t, s, tenant, schema.User, user(fmt.Sprintf("u%d", i)))["id"].(string))
	}
	g := mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": "G"},
		patch.Member{Value: users[0]}, patch.Member{Value: users[1], Type: "User"}, patch.Member{Value: "no-such-id"})
	gid := g["id"].(string)
	sub := mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": "Sub"})["id"].(string)

	want := []string{users[0], users[1]}
	sort.Strings(want)
	if got := memberIDs(t, s, gid); !reflect.DeepEqual(got, want) {
		t.Fatalf("members = %v, want %v", got, want)
	}

	out, err := s.Update(ctx, tenant, schema.Group, gid, setDelta(&patch.MemberDelta{
		Add: []patch.Member{{Value: users[2]}, {Value: users[0]}, {Value: sub, Type: "Group"}, {Value: gid}, {Value: "ghost"}}}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.SkippedMembers, []string{"ghost", gid}) && !reflect.DeepEqual(out.SkippedMembers, []string{gid, "ghost"}) {
		t.Errorf("skipped = %v, want the unknown id and the group itself", out.SkippedMembers)
	}
	groups, err := s.Groups(ctx, tenant, users[2])
	if err != nil || len(groups) != 1 || groups[0].ID != gid || groups[0].DisplayName != "G" {
		t.Errorf("Groups(u2) = %v, %v", groups, err)
	}
	groups, _ = s.Groups(ctx, tenant, sub)
	if len(groups) != 1 {
		t.Errorf("nested group's groups = %v", groups)
	}
	ms, _ := s.Members(ctx, tenant, gid)
	for _, m := range ms {
		if m.Value == sub && m.Type != "Group" {
			t.Errorf("nested group member has type %q", m.Type)
		}
	}

	// Removing a member who is not there, and adding one who is, succeed
	// and change nothing.
	before, _ := s.Journal(ctx, tenant, 0, 1000)
	out, err = s.Update(ctx, tenant, schema.Group, gid, setDelta(&patch.MemberDelta{Add: []patch.Member{{Value: users[0]}}, Remove: []string{users[4]}}))
	if err != nil || out.Changed {
		t.Errorf("no-op membership change: changed=%v err=%v", out != nil && out.Changed, err)
	}
	after, _ := s.Journal(ctx, tenant, 0, 1000)
	if len(after) != len(before) {
		t.Errorf("no-op wrote %d journal events", len(after)-len(before))
	}

	// Remove only the named members.
	if _, err := s.Update(ctx, tenant, schema.Group, gid, setDelta(&patch.MemberDelta{Remove: []string{users[1]}})); err != nil {
		t.Fatal(err)
	}
	if got := memberIDs(t, s, gid); len(got) != 3 {
		t.Errorf("after remove: %v", got)
	}
	if groups, _ := s.Groups(ctx, tenant, users[1]); len(groups) != 0 {
		t.Errorf("reverse edge left behind: %v", groups)
	}

	// Clear + Add replaces the list.
	if _, err := s.Update(ctx, tenant, schema.Group, gid, setDelta(&patch.MemberDelta{Clear: true, Add: []patch.Member{{Value: users[3]}, {Value: users[0]}}})); err != nil {
		t.Fatal(err)
	}
	want = []string{users[0], users[3]}
	sort.Strings(want)
	if got := memberIDs(t, s, gid); !reflect.DeepEqual(got, want) {
		t.Errorf("after replace: %v, want %v", got, want)
	}

	// Deleting a user removes its edges.
	if err := s.Delete(ctx, tenant, schema.User, users[3]); err != nil {
		t.Fatal(err)
	}
	if got := memberIDs(t, s, gid); !reflect.DeepEqual(got, []string{users[0]}) {
		t.Errorf("after user delete: %v", got)
	}
}

func TestGroupDeleteRemovesEveryEdge(t *testing.T) {
	s, err := Open(Options{InMemory: true, InlineEdgeDeletes: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var members []patch.Member
	for i := 0; i < 40; i++ {
		members = append(members, patch.Member{Value: mustCreate(t, s, tenant, schema.User, user(fmt.Sprintf("u%d", i)))["id"].(string)})
	}
	g := mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": "Big"}, members...)
	other := mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": "Other"}, members[0])
	if err := s.Delete(ctx, tenant, schema.Group, g["id"].(string)); err != nil {
		t.Fatal(err)
	}
	// Reads never show the deleted group, even before cleanup finishes.
	groups, _ := s.Groups(ctx, tenant, members[0].Value)
	if len(groups) != 1 || groups[0].ID != other["id"] {
		t.Errorf("groups after delete = %v", groups)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := countPrefix(t, s, memberPrefix(tenant, g["id"].(string))) + countPrefix(t, s, cleanupPrefix())
		for _, m := range members {
			n += countPrefix(t, s, memberOfKey(tenant, m.Value, g["id"].(string)))
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d edge or cleanup keys remain", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := memberIDs(t, s, other["id"].(string)); len(got) != 1 {
		t.Errorf("other group's members = %v", got)
	}
}

func TestJournal(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	u := mustCreate(t, s, tenant, schema.User, user("a", "active", true))["id"].(string)
	mustUpdate := func(rt *schema.ResourceType, id string, fn UpdateFunc) {
		t.Helper()
		if _, err := s.Update(ctx, tenant, rt, id, fn); err != nil {
			t.Fatal(err)
		}
	}
	mustUpdate(schema.User, u, set("title", "x"))
	mustUpdate(schema.User, u, set("title", "x")) // no change: no event
	mustUpdate(schema.User, u, set("active", false))
	mustUpdate(schema.User, u, set("active", true))
	g := mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": "G"}, patch.Member{Value: u})["id"].(string)
	mustUpdate(schema.Group, g, setDelta(&patch.MemberDelta{Remove: []string{u}}))
	if err := s.Delete(ctx, tenant, schema.Group, g); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, tenant, schema.User, u); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Journal(ctx, tenant, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []change.Kind{change.UserCreated, change.UserUpdated, change.UserDeactivated, change.UserReactivated,
		change.GroupCreated, change.MembersAdded, change.MembersRemoved, change.GroupDeleted, change.UserDeleted}
	var got []change.Kind
	for i, ev := range evs {
		got = append(got, ev.Kind)
		if ev.Seq != uint64(i+1) || ev.Tenant != tenant || ev.Time.IsZero() {
			t.Errorf("event %d: seq %d tenant %q time %v", i, ev.Seq, ev.Tenant, ev.Time)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("kinds = %v\nwant    %v", got, want)
	}
	if !reflect.DeepEqual(evs[1].Changed, []string{"title"}) {
		t.Errorf("changed = %v", evs[1].Changed)
	}
	if evs[5].Members[0].ID != u || evs[5].Members[0].Type != "User" {
		t.Errorf("members added = %v", evs[5].Members)
	}
	if evs[8].Resource["userName"] != "a" {
		t.Errorf("delete event lacks the last state: %v", evs[8].Resource)
	}
	page, _ := s.Journal(ctx, tenant, 7, 1)
	if len(page) != 1 || page[0].Seq != 8 {
		t.Errorf("Journal(after 7, limit 1) = %v", page)
	}
}

func TestJournalSequenceSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, tenant, schema.User, user("a"))
	mustCreate(t, s, tenant, schema.User, user("b"))
	mustCreate(t, s, "other", schema.User, user("a"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCreate(t, s, tenant, schema.User, user("c"))
	evs, _ := s.Journal(context.Background(), tenant, 0, 10)
	if len(evs) != 3 || evs[2].Seq != 3 || evs[2].Resource["userName"] != "c" {
		t.Fatalf("journal after reopen = %+v", evs)
	}
	if p := list(t, s, schema.User, Query{Count: 10}); p.Total != 3 {
		t.Errorf("count after reopen = %d", p.Total)
	}
}

// TestConcurrentMemberPatchesLoseNothing adds members to one group from
// many goroutines at once, each with a read-modify-write like a PATCH.
func TestConcurrentMemberPatchesLoseNothing(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	const n = 60
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, mustCreate(t, s, tenant, schema.User, user(fmt.Sprintf("u%d", i)))["id"].(string))
	}
	g := mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": "G"})["id"].(string)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := s.Update(ctx, tenant, schema.Group, g, func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
				cur["externalId"] = fmt.Sprintf("x%d", i)
				return cur, &patch.MemberDelta{Add: []patch.Member{{Value: ids[i]}}}, nil
			})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := memberIDs(t, s, g); len(got) != n {
		t.Fatalf("%d members after %d concurrent adds", len(got), n)
	}
	evs, _ := s.Journal(ctx, tenant, 0, 10000)
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq != evs[i-1].Seq+1 {
			t.Fatalf("journal sequence gap at %d: %d after %d", i, evs[i].Seq, evs[i-1].Seq)
		}
	}
}

func TestKeysRoundTrip(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		key  []byte
		want parsedKey
	}{
		{resourceKey("t", tUser, "id1"), parsedKey{prefix: pResource, tenant: "t", typ: tUser, parts: []string{"id1"}}},
		{uniqueKey("t", tGroup, "displayName", "x\x00y"), parsedKey{prefix: pUnique, tenant: "t", typ: tGroup, parts: []string{"displayName", "x\x00y"}}},
		{indexKey("t\x00", tUser, "emails.value", "a@b", "id"), parsedKey{prefix: pIndex, tenant: "t\x00", typ: tUser, parts: []string{"emails.value", "a@b", "id"}}},
		{memberKey("t", "g", "m"), parsedKey{prefix: pMember, tenant: "t", parts: []string{"g", "m"}}},
		{memberOfKey("t", "m", "g"), parsedKey{prefix: pMemberOf, tenant: "t", parts: []string{"m", "g"}}},
		{journalKey("t", 1<<40), parsedKey{prefix: pJournal, tenant: "t", seq: 1 << 40}},
		{countKey("t", tGroup), parsedKey{prefix: pCount, tenant: "t", typ: tGroup}},
		{cleanupKey("t", "g"), parsedKey{prefix: pCleanup, tenant: "t", parts: []string{"g"}}},
		{tokenKey([]byte("hash")), parsedKey{prefix: pToken, parts: []string{"hash"}}},
		{tenantTokenKey("t", []byte("hash")), parsedKey{prefix: pTenantToken, tenant: "t", parts: []string{"hash"}}},
		{accessKey("t"), parsedKey{prefix: pAccess, tenant: "t"}},
		{deliveryKey("t"), parsedKey{prefix: pDelivery, tenant: "t"}},
		{deadLetterKey("t", 1<<40+7), parsedKey{prefix: pDeadLetter, tenant: "t", seq: 1<<40 + 7}},
		{clientKey("t"), parsedKey{prefix: pClient, tenant: "t"}},
		{accessTokenKey([]byte("hash")), parsedKey{prefix: pAccessToken, parts: []string{"hash"}}},
		{collisionKey("t", tUser, "userName", "strasse", "id2"), parsedKey{prefix: pCollision, tenant: "t", typ: tUser, parts: []string{"userName", "strasse", "id2"}}},
		{metaKey("ident_rule"), parsedKey{prefix: pMeta, parts: []string{"ident_rule"}}},
	}
	for _, tt := range tests {
		got, err := parseKey(tt.key)
		if err != nil {
			t.Errorf("parseKey(%x): %v", tt.key, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseKey(%x) = %+v, want %+v", tt.key, got, tt.want)
		}
	}
	// Long values are hashed into a fixed-size key part.
	if k := uniqueKey("t", tUser, "userName", long); len(k) > 64 {
		t.Errorf("long value key is %d bytes", len(k))
	}
	// A tenant's key space is not a prefix of another tenant's.
	if strings.HasPrefix(string(resourcePrefix("ab", tUser)), string(resourcePrefix("a", tUser))) {
		t.Error("tenant a's prefix covers tenant ab")
	}
	for _, bad := range [][]byte{nil, {2, 'r'}, {keyVersion, 'Z', 1, 't'}, append(journalKey("t", 1), 0), append(deadLetterKey("t", 1), 0), append(deliveryKey("t"), 0), append(clientKey("t"), 0)} {
		if _, err := parseKey(bad); err == nil {
			t.Errorf("parseKey(%x) accepted a malformed key", bad)
		}
	}
}

func TestUpdateErrorsWriteNothing(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	u := mustCreate(t, s, tenant, schema.User, user("a"))["id"].(string)
	boom := scimerr.BadRequest(scimerr.InvalidValue, "no")
	_, err := s.Update(ctx, tenant, schema.User, u, func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
		return nil, nil, boom
	})
	if err != boom {
		t.Fatalf("err = %v", err)
	}
	_, err = s.Update(ctx, tenant, schema.User, "nope", set("title", "x"))
	wantSCIM(t, err, http.StatusNotFound, "")
	err = s.Delete(ctx, tenant, schema.User, "nope")
	wantSCIM(t, err, http.StatusNotFound, "")
	evs, _ := s.Journal(ctx, tenant, 0, 10)
	if len(evs) != 1 {
		t.Errorf("%d journal events; failed writes must add none", len(evs))
	}
}

func countPrefix(t *testing.T, s *Badger, prefix []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMemoryOptions(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if b, i, m := s.Memory(); b != DefaultBlockCacheSize || i != DefaultIndexCacheSize || m != DefaultMemTableSize {
		t.Errorf("defaults: %d %d %d", b, i, m)
	}
	s.Close()
	s, err = Open(Options{Dir: dir, NoSync: true, BlockCacheSize: 8 << 20, IndexCacheSize: 4 << 20, MemTableSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if b, i, m := s.Memory(); b != 8<<20 || i != 4<<20 || m != 16<<20 {
		t.Errorf("set: %d %d %d", b, i, m)
	}
}
