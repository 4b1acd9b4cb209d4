package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// decodeRaw decodes a resource's JSON as the store decodes it.
func decodeRaw(t testing.TB, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return m
}

// testRaw checks the JSON a store.RawReader hands out against Get, List
// and Groups: the same resources, totals, pages and groups.
func testRaw(t *testing.T, s *suite) {
	f := s.fresh(t)
	rr, ok := f.e.(store.RawReader)
	if !ok {
		t.Skip("the engine does not implement store.RawReader")
	}
	ctx := f.ctx
	var users []string
	for i := range 12 {
		users = append(users, f.user(acme, fmt.Sprintf("User%d@Example.com", i),
			"externalId", []string{"shared", "Shared", fmt.Sprint("e", i)}[i%3],
			"displayName", fmt.Sprint("Name ", i%2),
			"emails", []any{map[string]any{"value": fmt.Sprintf("u%d@example.com", i%4)}}))
	}
	f.group(acme, "Admins", users[0])
	for _, name := range []string{`<Odd> & "quoted" \ Zoë ` + "\u2028", "Plain", "Gone"} {
		g := f.group(acme, name, users[0], users[1])
		if name == "Gone" {
			f.del(acme, schema.Group, g)
		}
	}
	for _, member := range []string{users[0], users[1], users[2], "missing"} {
		raw, err := rr.RawGroups(ctx, acme, member)
		if err != nil {
			t.Fatal(err)
		}
		want, err := f.e.Groups(ctx, acme, member)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(raw, want) {
			t.Errorf("RawGroups %s: %v, Groups: %v", member, raw, want)
		}
	}
	for _, rid := range []string{users[0], users[1], "missing"} {
		raw, rerr := rr.GetRaw(ctx, acme, schema.User, rid)
		res, gerr := f.e.Get(ctx, acme, schema.User, rid)
		if rid == "missing" {
			wantSCIM(t, rerr, http.StatusNotFound, "")
			continue
		}
		if rerr != nil || gerr != nil || !reflect.DeepEqual(decodeRaw(t, raw), res) {
			t.Errorf("GetRaw %s: %s %v; Get: %v %v", rid, raw, rerr, res, gerr)
		}
	}
	queries := []struct {
		rt     *schema.ResourceType
		filter string
		start  int
		count  int
	}{
		{schema.User, `userName eq "user3@example.COM"`, 0, 10},
		{schema.User, `externalId eq "shared"`, 0, 10},
		{schema.User, `externalId eq "shared"`, 3, 1},
		{schema.User, `externalId eq "shared"`, 9, 10},
		{schema.User, `externalId eq "shared"`, 0, 0},
		{schema.User, `displayName eq "name 1"`, 2, 3},
		{schema.User, `emails.value eq "U1@example.com"`, 0, 10},
		{schema.User, `id eq "` + users[5] + `"`, 0, 10},
		{schema.User, `userName sw "user"`, 0, 10},
		{schema.User, "", 0, 10},
		{schema.User, "", 4, 3},
		{schema.User, "", 1000, 3},
		{schema.Group, `displayName eq "admins"`, 0, 10},
		{schema.Group, "", 0, 10},
	}
	answered := 0
	for _, c := range queries {
		t.Run(fmt.Sprintf("%s %s %d %d", c.rt.Name, c.filter, c.start, c.count), func(t *testing.T) {
			q := store.Query{StartIndex: c.start, Count: c.count}
			if c.filter != "" {
				q.Filter = f.parse(c.filter)
			}
			raw, ok, err := rr.ListRaw(ctx, acme, c.rt, q)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			answered++
			page := f.list(acme, c.rt, q)
			if raw.Total != page.Total || len(raw.Resources) != len(page.Resources) {
				t.Fatalf("ListRaw: %d of %d, List: %d of %d", len(raw.Resources), raw.Total, len(page.Resources), page.Total)
			}
			for i, b := range raw.Resources {
				if !reflect.DeepEqual(decodeRaw(t, b), page.Resources[i]) {
					t.Fatalf("resource %d: ListRaw %s, List %v", i, b, page.Resources[i])
				}
			}
		})
	}
	t.Logf("ListRaw answered %d of %d queries", answered, len(queries))
	// A sorted or seek query is List's.
	for _, q := range []store.Query{{SortBy: f.path("userName"), Count: 10}, {Seek: &store.Seek{}, Count: 10}} {
		if _, ok, err := rr.ListRaw(ctx, acme, schema.User, q); ok || err != nil {
			t.Errorf("ListRaw answered %+v: %v, %v", q, ok, err)
		}
	}
}
