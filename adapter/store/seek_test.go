package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// TestSeek pages by id position, with and without a filter (the filtered
// path scans; the unfiltered one seeks), forward and backward.
func TestSeek(t *testing.T) {
	s := openMem(t)
	var ids []string
	for i := 0; i < 7; i++ {
		ids = append(ids, mustCreate(t, s, "acme", schema.User, user(fmt.Sprintf("u%d", i)))["id"].(string))
	}
	pageIDs := func(p *Page) []string {
		out := []string{}
		for _, r := range p.Resources {
			out = append(out, r["id"].(string))
		}
		return out
	}
	tests := []struct {
		name           string
		seek           Seek
		count          int
		want           []string
		earlier, later bool
	}{
		{"start", Seek{}, 3, ids[:3], false, true},
		{"after", Seek{Key: ids[2]}, 3, ids[3:6], true, true},
		{"last page", Seek{Key: ids[3]}, 3, ids[4:7], true, false},
		{"past the end", Seek{Key: ids[6]}, 3, []string{}, true, false},
		{"count 0", Seek{Key: ids[2]}, 0, []string{}, true, true},
		{"end backward", Seek{Backward: true}, 3, ids[4:7], true, false},
		{"before", Seek{Key: ids[4], Backward: true}, 3, ids[1:4], true, true},
		{"first page backward", Seek{Key: ids[2], Backward: true}, 3, ids[0:2], false, true},
	}
	for _, filtered := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s filtered=%v", tt.name, filtered), func(t *testing.T) {
				q := Query{Seek: &tt.seek, Count: tt.count}
				if filtered {
					q.Filter = parse(t, `userName sw "u"`)
				}
				p := list(t, s, schema.User, q)
				if got := pageIDs(p); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("page = %v, want %v", got, tt.want)
				}
				if p.Total != 7 || p.Earlier != tt.earlier || p.Later != tt.later {
					t.Errorf("total %d earlier %v later %v, want 7 %v %v", p.Total, p.Earlier, p.Later, tt.earlier, tt.later)
				}
			})
		}
	}
	// A deleted position still works: the page continues after it.
	if err := s.Delete(context.Background(), "acme", schema.User, ids[3]); err != nil {
		t.Fatal(err)
	}
	if got := pageIDs(list(t, s, schema.User, Query{Seek: &Seek{Key: ids[3]}, Count: 2})); !reflect.DeepEqual(got, ids[4:6]) {
		t.Errorf("after a deleted id: %v, want %v", got, ids[4:6])
	}
	if _, err := s.List(context.Background(), "acme", schema.User, Query{Seek: &Seek{}, SortBy: &filter.Path{Attr: "userName"}}); err == nil {
		t.Error("seek with sortBy: no error")
	}
}

// TestDeleteIf deletes only when the precondition holds, and writes
// nothing otherwise.
func TestDeleteIf(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	id := mustCreate(t, s, "acme", schema.User, user("a"))["id"].(string)
	refuse := fmt.Errorf("refused")
	if err := s.DeleteIf(ctx, "acme", schema.User, id, func(map[string]any) error { return refuse }); err != refuse {
		t.Fatalf("DeleteIf = %v, want the precondition's error", err)
	}
	if _, err := s.Get(ctx, "acme", schema.User, id); err != nil {
		t.Fatalf("refused delete removed the user: %v", err)
	}
	var seen string
	if err := s.DeleteIf(ctx, "acme", schema.User, id, func(cur map[string]any) error {
		seen, _ = cur["id"].(string)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen != id {
		t.Errorf("precondition saw id %q, want %q", seen, id)
	}
	if _, err := s.Get(ctx, "acme", schema.User, id); err == nil {
		t.Error("user still there after DeleteIf")
	}
}
