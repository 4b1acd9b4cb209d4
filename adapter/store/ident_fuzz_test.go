package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

var (
	fuzzStoreOnce sync.Once
	fuzzStore     *Badger
	fuzzStoreErr  error
	fuzzTenants   atomic.Int64
)

// FuzzUniquenessAgreesWithFilter checks, for any two names a and b, that
// the uniqueness index and a `userName eq` filter agree: creating b after
// a is a 409 exactly when the filter for b finds a, both through the index
// and through the evaluator alone.
func FuzzUniquenessAgreesWithFilter(f *testing.F) {
	seeds := [][2]string{
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
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	fuzzStoreOnce.Do(func() { fuzzStore, fuzzStoreErr = Open(Options{InMemory: true}) })
	if fuzzStoreErr != nil {
		f.Fatal(fuzzStoreErr)
	}
	s := fuzzStore
	f.Fuzz(func(t *testing.T, a, b string) {
		if a == "" || b == "" || !utf8.ValidString(a) || !utf8.ValidString(b) {
			return
		}
		ctx := context.Background()
		tn := fmt.Sprintf("fuzz-%d", fuzzTenants.Add(1))
		created, err := s.Create(ctx, tn, schema.User, map[string]any{"userName": a}, nil)
		if err != nil {
			t.Fatalf("create %q in an empty tenant: %v", a, err)
		}
		aID := created.Resource["id"].(string)
		_, err = s.Create(ctx, tn, schema.User, map[string]any{"userName": b}, nil)
		var conflict bool
		if err != nil {
			e, ok := scimerr.As(err)
			if !ok || e.Status != 409 {
				t.Fatalf("create %q after %q: %v", b, a, err)
			}
			conflict = true
		}
		eq := &filter.Compare{Path: filter.Path{Attr: "userName"}, Op: filter.Eq, Value: filter.Literal{Kind: filter.StringLit, Str: b}}
		matched := filter.Match(eq, schema.User, created.Resource)
		page, err := s.List(ctx, tn, schema.User, Query{Filter: eq, Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		indexed := false
		for _, r := range page.Resources {
			if r["id"] == aID {
				indexed = true
			}
		}
		if conflict != matched || matched != indexed {
			t.Fatalf("a=%q b=%q: create conflict %v, filter match %v, indexed filter found a %v",
				a, b, conflict, matched, indexed)
		}
	})
}
