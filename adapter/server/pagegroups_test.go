package server

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// groupCounter counts per-member group reads.
type groupCounter struct {
	store.Store
	groups atomic.Int64
}

func (c *groupCounter) Groups(ctx context.Context, tenant, member string) ([]store.GroupRef, error) {
	c.groups.Add(1)
	return c.Store.Groups(ctx, tenant, member)
}

// groupLister is a groupCounter whose store reads many members at once.
type groupLister struct {
	*groupCounter
	gl    store.GroupLister
	calls atomic.Int64
}

func (l *groupLister) GroupsOf(ctx context.Context, tenant string, members []string) (map[string][]store.GroupRef, error) {
	l.calls.Add(1)
	return l.gl.GroupsOf(ctx, tenant, members)
}

// TestPageOfUsersReadsGroupsOnce: a page of users reads its members'
// groups in one call when the store can, and renders the same groups as
// each user's own GET; a store that cannot still gets them right.
func TestPageOfUsersReadsGroupsOnce(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counter := &groupCounter{Store: st}
	lister := &groupLister{groupCounter: counter, gl: st}
	h := &harness{t: t, h: New(Config{Store: lister}).Handler("acme", "/scim/v2/acme")}

	var ids []string
	for i := 0; i < 30; i++ {
		ids = append(ids, h.must("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%02d"}`, i), 201)["id"].(string))
	}
	member := func(ids ...string) string {
		s := ""
		for i, id := range ids {
			if i > 0 {
				s += ","
			}
			s += `{"value":"` + id + `"}`
		}
		return s
	}
	for g, ms := range [][]string{ids[:20], ids[10:25], ids[:1]} {
		h.must("POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G%d","members":[%s]}`, g, member(ms...)), 201)
	}

	counter.groups.Store(0)
	page := h.must("GET", "/Users?count=100", "", 200)["Resources"].([]any)
	if n := counter.groups.Load(); n != 0 || lister.calls.Load() != 1 {
		t.Fatalf("a page of %d users read groups %d times one by one and %d times at once", len(page), n, lister.calls.Load())
	}
	// The same groups as each user's own GET, for every user.
	for _, r := range page {
		u := r.(map[string]any)
		one := h.must("GET", "/Users/"+u["id"].(string), "", 200)
		if !reflect.DeepEqual(u["groups"], one["groups"]) {
			t.Fatalf("user %s: page groups %v, GET groups %v", u["userName"], u["groups"], one["groups"])
		}
	}
	if g := page[0].(map[string]any)["groups"]; g == nil || len(g.([]any)) != 2 {
		t.Fatalf("u00 should be in G0 and G2: %v", g)
	}

	// Excluding groups reads none.
	counter.groups.Store(0)
	lister.calls.Store(0)
	h.must("GET", "/Users?count=100&excludedAttributes=groups", "", 200)
	if counter.groups.Load() != 0 || lister.calls.Load() != 0 {
		t.Fatal("groups were read for a page that excludes them")
	}

	// Without GroupsOf, one read per user, same answer.
	plain := &harness{t: t, h: New(Config{Store: counter}).Handler("acme", "/scim/v2/acme")}
	counter.groups.Store(0)
	again := plain.must("GET", "/Users?count=100", "", 200)["Resources"].([]any)
	if n := counter.groups.Load(); n != int64(len(again)) || !reflect.DeepEqual(again, page) {
		t.Fatalf("without GroupsOf: %d reads for %d users, same page %v", n, len(again), reflect.DeepEqual(again, page))
	}
}
