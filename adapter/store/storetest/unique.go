package storetest

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/ident"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

func testUniqueness(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	a := f.user(acme, "Alice@Example.com")
	_, err := f.e.Create(ctx, acme, schema.User, userData("alice@example.COM"), nil)
	wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
	// Another tenant has its own namespace.
	f.user(globex, "alice@example.com")
	// A rename that only changes case keeps the name.
	f.update(acme, schema.User, a, set("userName", "ALICE@example.com"))
	b := f.user(acme, "bob")
	_, err = f.e.Update(ctx, acme, schema.User, b, set("userName", "alice@EXAMPLE.com"))
	wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
	// Renaming frees the old name.
	f.update(acme, schema.User, a, set("userName", "alice2"))
	f.user(acme, "alice@example.com")
	_, err = f.e.Create(ctx, acme, schema.User, userData("ALICE2"), nil)
	wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
	// Deleting frees the name too.
	f.del(acme, schema.User, b)
	f.user(acme, "BOB")

	sales := f.group(acme, "Sales")
	_, err = f.e.Create(ctx, acme, schema.Group, map[string]any{"displayName": "SALES"}, nil)
	wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
	// Users and groups have separate namespaces.
	f.user(acme, "sales")
	f.group(acme, "bob")
	f.del(acme, schema.Group, sales)
	f.group(acme, "sales")
}

// identifierPairs are names that the identifier rule folds together, or
// tells apart, as FuzzUniquenessAgreesWithFilter seeds them.
var identifierPairs = [][2]string{
	{"bjensen@example.com", "BJENSEN@example.com"},
	{"Ren\u00e9e", "Rene\u0301e"},
	{"\u212aate", "kate"},
	{"stra\u00dfe", "STRASSE"},
	{"\u03c3\u03bf\u03c6\u03af\u03b1\u03c2", "\u03a3\u039f\u03a6\u0399\u0391\u03a3"},
	{"\u017fam", "SAM"},
	{"\uff42\uff4a\uff45\uff4e\uff53\uff45\uff4e", "bjensen"},
	{"\u0130", "i"},
	{"\u0131", "I"},
	{"a\u00a0b", "a b"},
	{"x", "y"},
}

// testIdentifierRule checks, for each pair, that creating the second
// name after the first is a 409 exactly when package ident calls them the
// same name, and that a userName eq filter agrees.
func testIdentifierRule(t *testing.T, s *suite) {
	f := s.fresh(t)
	for i, p := range identifierPairs {
		t.Run(fmt.Sprintf("%q %q", p[0], p[1]), func(t *testing.T) {
			tn := fmt.Sprintf("ident-%d", i)
			a := f.user(tn, p[0])
			_, err := f.e.Create(f.ctx, tn, schema.User, userData(p[1]), nil)
			same := ident.Equal(p[0], p[1])
			if same {
				wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
			} else if err != nil {
				t.Fatalf("create %q after %q: %v; the rule tells them apart", p[1], p[0], err)
			}
			eq := &filter.Compare{Path: filter.Path{Attr: "userName"}, Op: filter.Eq, Value: filter.Literal{Kind: filter.StringLit, Str: p[1]}}
			page := f.list(tn, schema.User, store.Query{Filter: eq, Count: 10})
			found := false
			for _, r := range page.Resources {
				found = found || id(r) == a
			}
			if found != same {
				t.Errorf("userName eq %q found %q: %v, want %v", p[1], p[0], found, same)
			}
			f.group(tn, p[0])
			_, err = f.e.Create(f.ctx, tn, schema.Group, map[string]any{"displayName": p[1]}, nil)
			if same {
				wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
			} else if err != nil {
				t.Fatalf("create group %q after %q: %v", p[1], p[0], err)
			}
			// A rename onto the other spelling is the same decision.
			f.del(tn, schema.User, a)
			b := f.user(tn, p[0]+"-other")
			_, err = f.e.Update(f.ctx, tn, schema.User, b, set("userName", p[0]))
			if err != nil {
				t.Fatalf("rename to the freed name %q: %v", p[0], err)
			}
		})
	}
}

// testConcurrentCreates creates spellings of two names from many
// goroutines at once: exactly one create wins per folded name.
func testConcurrentCreates(t *testing.T, s *suite) {
	f := s.fresh(t)
	spellings := [][]string{
		{"stra\u00dfe", "STRASSE", "Strasse", "\uff53\uff54\uff52\uff41\uff53\uff53\uff45", "stra\u017f\u017fe"},
		{"kelvin", "\u212aelvin", "KELVIN", "\uff4b\uff45\uff4c\uff56\uff49\uff4e"},
	}
	type try struct {
		name string
		set  int
	}
	var tries []try
	for round := range 4 {
		for set, names := range spellings {
			for _, n := range names[round%len(names):] {
				tries = append(tries, try{n, set})
			}
		}
	}
	wins := make([]int, len(spellings))
	var mu sync.Mutex
	for _, rt := range []*schema.ResourceType{schema.User, schema.Group} {
		clear(wins)
		errs := make([]error, len(tries))
		parallel(len(tries), func(i int) {
			data := map[string]any{"displayName": tries[i].name}
			if rt == schema.User {
				data = userData(tries[i].name)
			}
			_, errs[i] = f.e.Create(f.ctx, acme, rt, data, nil)
			if errs[i] == nil {
				mu.Lock()
				wins[tries[i].set]++
				mu.Unlock()
			}
		})
		for _, err := range errs {
			if err != nil {
				wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
			}
		}
		for set, n := range wins {
			if n != 1 {
				t.Errorf("%s: %d creates of a spelling of %q won, want exactly 1", rt.Name, n, spellings[set][0])
			}
		}
		if n := len(f.all(acme, rt)); n != len(spellings) {
			t.Errorf("%d %ss stored, want %d", n, rt.Name, len(spellings))
		}
	}
	if n := len(f.journal(acme)); n != 2*len(spellings) {
		t.Errorf("%d journal events, want %d", n, 2*len(spellings))
	}
}

// testInvariantsUnderLoad runs IdP-shaped writes from many goroutines and
// checks every invariant afterwards: names unique under the identifier
// rule with the filter finding each, membership edges agreeing in both
// directions, and the journal gap-free.
func testInvariantsUnderLoad(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	g := f.group(acme, "all")
	workers, each := s.opts.Writers, 40
	names := workers * each / 2
	var mu sync.Mutex
	var users []string
	parallel(workers, func(wk int) {
		r := rand.New(rand.NewPCG(uint64(wk), 7))
		for range each {
			mu.Lock()
			var pick string
			if len(users) > 0 {
				pick = users[r.IntN(len(users))]
			}
			mu.Unlock()
			name := fmt.Sprintf("name%d", r.IntN(names))
			if r.IntN(2) == 0 {
				name = strings.ToUpper(name)
			}
			switch op := r.IntN(10); {
			case op < 5 || pick == "":
				out, err := f.e.Create(ctx, acme, schema.User, userData(name), nil)
				if err == nil {
					mu.Lock()
					users = append(users, id(out.Resource))
					mu.Unlock()
				} else if !isStatus(err, http.StatusConflict) {
					t.Errorf("create: %v", err)
				}
			case op < 7:
				_, err := f.e.Update(ctx, acme, schema.User, pick, set("userName", name))
				if err != nil && !isStatus(err, http.StatusConflict) && !isStatus(err, http.StatusNotFound) {
					t.Errorf("rename: %v", err)
				}
			case op < 9:
				if _, err := f.e.Update(ctx, acme, schema.Group, g, delta(patch.MemberDelta{Add: refs([]string{pick})})); err != nil {
					t.Errorf("add member: %v", err)
				}
			default:
				if err := f.e.Delete(ctx, acme, schema.User, pick); err != nil && !isStatus(err, http.StatusNotFound) {
					t.Errorf("delete: %v", err)
				}
			}
		}
	})
	f.journal(acme)
	members := map[string]bool{}
	for _, m := range f.members(acme, g) {
		members[m] = true
	}
	seen := map[string]string{}
	for _, u := range f.all(acme, schema.User) {
		uid, name := id(u), u["userName"].(string)
		if other, dup := seen[ident.Fold(name)]; dup {
			t.Fatalf("users %s and %s share the name %q", other, uid, name)
		}
		seen[ident.Fold(name)] = uid
		hits := f.list(acme, schema.User, store.Query{Filter: f.parse(fmt.Sprintf("userName eq %q", name)), Count: 10})
		if hits.Total != 1 || len(hits.Resources) != 1 || id(hits.Resources[0]) != uid {
			t.Fatalf("userName eq %q does not find exactly %s: %v", name, uid, ids(hits.Resources))
		}
		in := len(f.groups(acme, uid)) == 1
		if in != members[uid] {
			t.Fatalf("user %s: Groups says member %v, Members says %v", uid, in, members[uid])
		}
		delete(members, uid)
	}
	if len(members) != 0 {
		t.Fatalf("the group has %d members that are no users: %v", len(members), members)
	}
}
