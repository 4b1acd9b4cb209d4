package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// The benchmarks drive the handler in process (no network), against an
// in-memory store unless the name says disk. The 100,000-user data set is
// built once per process.

const benchUsers = 100_000

var big struct {
	once  sync.Once
	st    *store.Badger
	group string
	users []string
}

func bigStore(b *testing.B) {
	big.once.Do(func() {
		st, err := store.Open(store.Options{InMemory: true})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		members := make([]patch.Member, 0, benchUsers)
		for i := 0; i < benchUsers; i++ {
			out, err := st.Create(ctx, "acme", schema.User, benchUser(i), nil)
			if err != nil {
				b.Fatal(err)
			}
			id := out.Resource["id"].(string)
			big.users = append(big.users, id)
			members = append(members, patch.Member{Value: id})
		}
		g, err := st.Create(ctx, "acme", schema.Group, map[string]any{"displayName": "Everyone"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		big.group = g.Resource["id"].(string)
		for i := 0; i < len(members); i += 10_000 {
			d := &patch.MemberDelta{Add: members[i:min(i+10_000, len(members))]}
			if _, err := st.Update(ctx, "acme", schema.Group, big.group, func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
				return cur, d, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		big.st = st
	})
	if big.st == nil {
		b.Fatal("building the 100,000-user store failed")
	}
}

func benchUser(i int) map[string]any {
	return map[string]any{
		"schemas":     []any{schema.UserURN},
		"userName":    fmt.Sprintf("user%06d@contoso.example", i),
		"externalId":  fmt.Sprintf("0b6c%08d-8f2e-4d3a-9c1b", i),
		"displayName": fmt.Sprintf("User %d", i),
		"active":      true,
		"name":        map[string]any{"givenName": "Test", "familyName": fmt.Sprintf("User%d", i)},
		"emails":      []any{map[string]any{"value": fmt.Sprintf("user%06d@contoso.example", i), "type": "work", "primary": true}},
	}
}

func serve(b *testing.B, h http.Handler, method, target, body string, want int) {
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	r.Header.Set("Content-Type", MediaType)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != want {
		b.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
	}
}

func benchCreate(b *testing.B, opts store.Options) {
	st, err := store.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := New(Config{Store: st}).Handler("acme", "/scim/v2/acme")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		serve(b, h, http.MethodPost, "/scim/v2/acme/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d@contoso.example","externalId":"e%d","name":{"givenName":"A","familyName":"B"},"emails":[{"value":"u%d@contoso.example","type":"work","primary":true}],"active":true}`, i, i, i), http.StatusCreated)
	}
}

// BenchmarkCreateUser is POST /Users.
func BenchmarkCreateUser(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchCreate(b, store.Options{InMemory: true}) })
	b.Run("disk-fsync", func(b *testing.B) { benchCreate(b, store.Options{Dir: b.TempDir()}) })
}

// BenchmarkFilterUserName100k is Entra's matching query against 100,000
// users.
func BenchmarkFilterUserName100k(b *testing.B) {
	benchGets(b, func(i int) string {
		return "/scim/v2/acme/Users?filter=" + url.QueryEscape(fmt.Sprintf(`userName eq "USER%06d@contoso.example"`, (i*7919)%benchUsers))
	})
}

// benchGets serves GET target(i) against the 100,000-user store for
// i = 0 … b.N-1, each answered 200 OK.
func benchGets(b *testing.B, target func(i int) string) {
	bigStore(b)
	h := New(Config{Store: big.st}).Handler("acme", "/scim/v2/acme")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		serve(b, h, http.MethodGet, target(i), "", http.StatusOK)
	}
}

// BenchmarkAddMember adds one member to a group (and removes it, so every
// iteration is a real add), in a 10-member and a 100,000-member group.
func BenchmarkAddMember(b *testing.B) {
	bigStore(b)
	h := New(Config{Store: big.st}).Handler("acme", "/scim/v2/acme")
	small, err := big.st.Create(context.Background(), "acme", schema.Group, map[string]any{"displayName": "Ten"}, []patch.Member{})
	if err != nil {
		b.Fatal(err)
	}
	smallID := small.Resource["id"].(string)
	for _, u := range big.users[:10] {
		serve(b, h, http.MethodPatch, "/scim/v2/acme/Groups/"+smallID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":"`+u+`"}]}]}`, http.StatusNoContent)
	}
	newcomer, err := big.st.Create(context.Background(), "acme", schema.User, map[string]any{"userName": "newcomer"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	nid := newcomer.Resource["id"].(string)
	for _, g := range []struct{ name, id string }{{"members=10", smallID}, {"members=100000", big.group}} {
		b.Run(g.name, func(b *testing.B) {
			add := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":"` + nid + `"}]}]}`
			remove := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"value":"` + nid + `"}]}]}`
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				serve(b, h, http.MethodPatch, "/scim/v2/acme/Groups/"+g.id, add, http.StatusNoContent)
				b.StopTimer()
				serve(b, h, http.MethodPatch, "/scim/v2/acme/Groups/"+g.id, remove, http.StatusNoContent)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkPageAt50k is Okta's import paging, deep into 100,000 users.
func BenchmarkPageAt50k(b *testing.B) {
	benchGets(b, func(int) string { return "/scim/v2/acme/Users?startIndex=50000&count=100" })
}

// BenchmarkGetGroupExcludingMembers reads the 100,000-member group the way
// Entra does; it must not touch the members.
func BenchmarkGetGroupExcludingMembers(b *testing.B) {
	benchGets(b, func(int) string { return "/scim/v2/acme/Groups/" + big.group + "?excludedAttributes=members" })
}

// BenchmarkPatchUser is an Entra-style attribute update of one user.
func BenchmarkPatchUser(b *testing.B) {
	bigStore(b)
	h := New(Config{Store: big.st}).Handler("acme", "/scim/v2/acme")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"displayName","value":"Renamed %d"},{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Dept %d"},{"op":"Replace","path":"active","value":"True"}]}`, i, i)
		serve(b, h, http.MethodPatch, "/scim/v2/acme/Users/"+big.users[i%benchUsers], body, http.StatusNoContent)
	}
}

// hideGroupLister hides a store's GroupsOf: every user's groups are then
// read in a transaction of their own, as before pages read them at once.
type hideGroupLister struct{ store.Store }

// BenchmarkPageOfUsersWithGroups lists a page of 100 users, each in three
// of 20 groups, reading the users' groups one user at a time ("per-user",
// the way a store without GroupsOf is read) and for the page at once.
func BenchmarkPageOfUsersWithGroups(b *testing.B) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	var ids []string
	for i := 0; i < 2000; i++ {
		res, err := st.Create(ctx, "acme", schema.User, benchUser(i), nil)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, res.Resource["id"].(string))
	}
	for g := 0; g < 20; g++ {
		var ms []patch.Member
		for i := g * 100; i < g*100+300 && i < len(ids); i++ {
			ms = append(ms, patch.Member{Value: ids[i]})
		}
		if _, err := st.Create(ctx, "acme", schema.Group, map[string]any{"displayName": fmt.Sprint("group ", g)}, ms); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		st   store.Store
	}{{"per-user", hideGroupLister{st}}, {"page", st}} {
		b.Run(c.name, func(b *testing.B) {
			h := New(Config{Store: c.st}).Handler("acme", "/scim/v2/acme")
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				serve(b, h, http.MethodGet, "/scim/v2/acme/Users?startIndex=201&count=100", "", http.StatusOK)
			}
		})
	}
}

// BenchmarkGetUser is GET /Users/{id} of one of 100,000 users, each a
// member of one group.
func BenchmarkGetUser(b *testing.B) {
	benchGets(b, func(i int) string { return "/scim/v2/acme/Users/" + big.users[(i*7919)%benchUsers] })
}

// BenchmarkFilterExternalID100k is the externalId matching query (Okta,
// OneLogin) against 100,000 users.
func BenchmarkFilterExternalID100k(b *testing.B) {
	benchGets(b, func(i int) string {
		return "/scim/v2/acme/Users?filter=" + url.QueryEscape(fmt.Sprintf(`externalId eq "0b6c%08d-8f2e-4d3a-9c1b"`, (i*7919)%benchUsers))
	})
}

// BenchmarkGetGroup is GET /Groups/{id} of a group of ten members, and
// the displayName query that finds it.
func BenchmarkGetGroup(b *testing.B) {
	bigStore(b)
	ctx := context.Background()
	const name = "Ten readers"
	e, err := filter.Parse(`displayName eq "` + name + `"`)
	if err != nil {
		b.Fatal(err)
	}
	page, err := big.st.List(ctx, "acme", schema.Group, store.Query{Filter: e, Count: 1})
	if err != nil {
		b.Fatal(err)
	}
	var id string
	if len(page.Resources) == 1 {
		id = page.Resources[0]["id"].(string)
	} else {
		ms := make([]patch.Member, 10)
		for i := range ms {
			ms[i] = patch.Member{Value: big.users[i]}
		}
		g, err := big.st.Create(ctx, "acme", schema.Group, map[string]any{"displayName": name}, ms)
		if err != nil {
			b.Fatal(err)
		}
		id = g.Resource["id"].(string)
	}
	b.Run("id", func(b *testing.B) {
		benchGets(b, func(int) string { return "/scim/v2/acme/Groups/" + id })
	})
	b.Run("displayName", func(b *testing.B) {
		target := "/scim/v2/acme/Groups?filter=" + url.QueryEscape(`displayName eq "`+name+`"`)
		benchGets(b, func(int) string { return target })
	})
}
