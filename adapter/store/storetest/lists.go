package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

func testPaging(t *testing.T, s *suite) {
	f := s.fresh(t)
	const n = 25
	var users, groups []string
	for i := range n {
		// Names in reverse, so that name order is not creation order.
		users = append(users, f.user(acme, fmt.Sprintf("u%02d", n-1-i)))
		groups = append(groups, f.group(acme, fmt.Sprintf("g%02d", n-1-i)))
	}
	for _, c := range []struct {
		rt  *schema.ResourceType
		ids []string
	}{{schema.User, users}, {schema.Group, groups}} {
		var got []string
		for start := 1; start <= n; start += 10 {
			p := f.list(acme, c.rt, store.Query{StartIndex: start, Count: 10})
			if p.Total != n {
				t.Fatalf("%s page at %d: total %d, want %d", c.rt.Name, start, p.Total, n)
			}
			got = append(got, ids(p.Resources)...)
		}
		if !reflect.DeepEqual(got, c.ids) {
			t.Errorf("%s pages are not in creation order:\n got %v\nwant %v", c.rt.Name, got, c.ids)
		}
	}
	cases := []struct {
		name  string
		q     store.Query
		want  []string
		total int
	}{
		{"first page", store.Query{StartIndex: 1, Count: 3}, users[0:3], n},
		{"startIndex 0 means 1", store.Query{StartIndex: 0, Count: 3}, users[0:3], n},
		{"negative startIndex means 1", store.Query{StartIndex: -5, Count: 3}, users[0:3], n},
		{"middle", store.Query{StartIndex: 11, Count: 5}, users[10:15], n},
		{"last partial page", store.Query{StartIndex: 21, Count: 10}, users[20:], n},
		{"last resource", store.Query{StartIndex: n, Count: 10}, users[n-1:], n},
		{"just beyond the total", store.Query{StartIndex: n + 1, Count: 10}, nil, n},
		{"far beyond the total", store.Query{StartIndex: 1000, Count: 10}, nil, n},
		{"count 0 gives only the total", store.Query{Count: 0}, nil, n},
		{"negative count gives only the total", store.Query{Count: -1}, nil, n},
		{"count beyond the total", store.Query{Count: 1000}, users, n},
		{"filtered", store.Query{Filter: f.parse(`userName sw "u"`), StartIndex: 11, Count: 5}, users[10:15], n},
		{"filtered beyond", store.Query{Filter: f.parse(`userName sw "u"`), StartIndex: 26, Count: 5}, nil, n},
		{"filtered count 0", store.Query{Filter: f.parse(`userName sw "u1"`), Count: 0}, nil, 10},
		{"filtered total", store.Query{Filter: f.parse(`userName sw "u1"`), StartIndex: 3, Count: 2}, users[n-1-17 : n-1-15], 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := f.list(acme, schema.User, tc.q)
			if got := ids(p.Resources); p.Total != tc.total || !slices.Equal(got, tc.want) {
				t.Errorf("total %d, page %v; want %d, %v", p.Total, got, tc.total, tc.want)
			}
		})
	}
	// Deletes leave the rest in order, and totals exact.
	f.del(acme, schema.User, users[5])
	f.del(acme, schema.User, users[0])
	p := f.list(acme, schema.User, store.Query{StartIndex: 4, Count: 3})
	if want := []string{users[4], users[6], users[7]}; p.Total != n-2 || !slices.Equal(ids(p.Resources), want) {
		t.Errorf("after deletes: total %d, page %v; want %d, %v", p.Total, ids(p.Resources), n-2, want)
	}
	// Empty type, empty tenant.
	if p := f.list(globex, schema.User, store.Query{Count: 10}); p.Total != 0 || len(p.Resources) != 0 {
		t.Errorf("list of an empty tenant: %d, %v", p.Total, ids(p.Resources))
	}
}

func testSort(t *testing.T, s *suite) {
	f := s.fresh(t)
	for _, n := range []string{"carol", "Alice", "bob"} {
		f.user(acme, n)
	}
	f.user(acme, "dave", "name", map[string]any{"familyName": "Aardvark"})
	for i, n := range []string{"9", "10", "2"} {
		f.user(acme, fmt.Sprint("emp", i), schema.EnterpriseUserURN, map[string]any{"employeeNumber": n, "department": "D"})
	}
	var ties []string
	for i, n := range []string{"Same", "SAME", "same", "s\u00e1me"} {
		ties = append(ties, f.user(acme, fmt.Sprint("tie", i), "displayName", n, "title", "tie"))
	}
	f.user(acme, "mail1", "title", "mail", "emails", []any{
		map[string]any{"value": "b@example.com"}, map[string]any{"value": "z@example.com", "primary": true}})
	f.user(acme, "mail2", "title", "mail", "emails", []any{
		map[string]any{"value": "c@example.com"}, map[string]any{"value": "a@example.com"}})
	for _, n := range []string{"Beta", "alpha", "Gamma"} {
		f.group(acme, n)
	}

	names := func(q store.Query, rt *schema.ResourceType) []string {
		attr := "userName"
		if rt == schema.Group {
			attr = "displayName"
		}
		return attrs(f.list(acme, rt, q).Resources, attr)
	}
	idOrder := idSorted(ties)
	allNames := []string{"Alice", "bob", "carol", "dave", "emp0", "emp1", "emp2", "mail1", "mail2", "tie0", "tie1", "tie2", "tie3"}
	byName := func(rev bool) []string {
		out := slices.Clone(allNames)
		slices.SortStableFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
		if rev {
			slices.Reverse(out)
		}
		return out
	}
	cases := []struct {
		name string
		rt   *schema.ResourceType
		q    store.Query
		want []string
		ids  []string
	}{
		{name: "userName ascending", rt: schema.User, q: store.Query{SortBy: f.path("userName"), Count: 100}, want: byName(false)},
		{name: "userName descending", rt: schema.User, q: store.Query{SortBy: f.path("userName"), Descending: true, Count: 100}, want: byName(true)},
		{name: "descending page 2", rt: schema.User, q: store.Query{SortBy: f.path("USERNAME"), Descending: true, StartIndex: 2, Count: 2}, want: byName(true)[1:3]},
		{name: "ascending beyond", rt: schema.User, q: store.Query{SortBy: f.path("userName"), StartIndex: 100, Count: 2}},
		{name: "extension attribute by name", rt: schema.User, q: store.Query{Filter: f.parse(`department eq "D"`), SortBy: f.path("employeeNumber"), Count: 10},
			want: []string{"emp1", "emp2", "emp0"}},
		{name: "extension attribute by URN", rt: schema.User, q: store.Query{Filter: f.parse(`department eq "D"`), SortBy: f.path(schema.EnterpriseUserURN + ":employeeNumber"), Count: 10},
			want: []string{"emp1", "emp2", "emp0"}},
		{name: "unassigned last ascending", rt: schema.User, q: store.Query{SortBy: f.path("name.familyName"), Count: 1}, want: []string{"dave"}},
		{name: "unassigned first descending", rt: schema.User, q: store.Query{SortBy: f.path("name.familyName"), Descending: true, StartIndex: 13, Count: 5}, want: []string{"dave"}},
		{name: "multi-valued by primary", rt: schema.User, q: store.Query{Filter: f.parse(`title eq "mail"`), SortBy: f.path("emails.value"), Count: 10},
			want: []string{"mail2", "mail1"}},
		{name: "ties ascending by id", rt: schema.User, q: store.Query{Filter: f.parse(`title eq "tie"`), SortBy: f.path("displayName"), Count: 10}, ids: tieOrder(idOrder, ties[3], false)},
		{name: "ties descending by id", rt: schema.User, q: store.Query{Filter: f.parse(`title eq "tie"`), SortBy: f.path("displayName"), Descending: true, Count: 10}, ids: tieOrder(idOrder, ties[3], true)},
		{name: "ties paged", rt: schema.User, q: store.Query{Filter: f.parse(`title eq "tie"`), SortBy: f.path("displayName"), StartIndex: 2, Count: 2}, ids: tieOrder(idOrder, ties[3], false)[1:3]},
		{name: "groups ascending", rt: schema.Group, q: store.Query{SortBy: f.path("displayName"), Count: 10}, want: []string{"alpha", "Beta", "Gamma"}},
		{name: "groups descending", rt: schema.Group, q: store.Query{SortBy: f.path("displayName"), Descending: true, Count: 10}, want: []string{"Gamma", "Beta", "alpha"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ids != nil {
				if got := ids(f.list(acme, tc.rt, tc.q).Resources); !slices.Equal(got, tc.ids) {
					t.Errorf("ids %v, want %v", got, tc.ids)
				}
				return
			}
			if got := names(tc.q, tc.rt); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := f.e.List(f.ctx, acme, schema.User, store.Query{Seek: &store.Seek{}, SortBy: f.path("userName"), Count: 1}); err == nil {
		t.Error("a seek with sortBy: no error")
	}
}

// tieOrder is the order of the tie users sorted by displayName: the three
// spellings of "same" fold together and come in id order in either
// direction; "sáme" sorts after them ascending and before them
// descending.
func tieOrder(idOrder []string, accented string, desc bool) []string {
	var same []string
	for _, v := range idOrder {
		if v != accented {
			same = append(same, v)
		}
	}
	if desc {
		return append([]string{accented}, same...)
	}
	return append(same, accented)
}

func testFilters(t *testing.T, s *suite) {
	f := s.fresh(t)
	const n = 60
	users := make([]string, n)
	for i := range users {
		users[i] = f.user(acme, fmt.Sprintf("User%03d@example.com", i),
			"externalId", fmt.Sprintf("Ext-%d", i),
			"displayName", fmt.Sprintf("User %d", i),
			"emails", []any{map[string]any{"value": fmt.Sprintf("mail%d@example.com", i), "type": "work"}})
	}
	printers := f.group(acme, "Printers")
	f.update(acme, schema.Group, printers, set("externalId", "g-1"))
	f.group(acme, "Scanners")
	f.user(globex, "User042@example.com", "externalId", "Ext-42")
	only := func(idx ...int) func(int) bool { return func(i int) bool { return slices.Contains(idx, i) } }
	cases := []struct {
		filter string
		match  func(i int) bool
	}{
		{`userName eq "user042@EXAMPLE.com"`, only(42)},
		{`USERNAME eq "user042@example.com"`, only(42)},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "user042@example.com"`, only(42)},
		{"userName eq \"\uff55\uff53\uff45\uff52\uff10\uff14\uff12@example.com\"", only(42)},
		{`externalId eq "Ext-7"`, only(7)},
		{`externalId eq "ext-7"`, only()},
		{`externalId eq Ext-7`, only(7)},
		{`emails.value eq "MAIL9@example.com"`, only(9)},
		{`emails[type eq "work"].value eq "mail9@example.com"`, only(9)},
		{`emails[type eq "home"].value eq "mail9@example.com"`, only()},
		{`emails[value eq "mail9@example.com"]`, only(9)},
		{`displayName eq "user 12"`, only(12)},
		{`userName eq "user001@example.com" or userName eq "user002@example.com"`, only(1, 2)},
		{`userName eq "user001@example.com" and active eq true`, only()},
		{`userName eq "nobody"`, only()},
		{`id eq "` + users[5] + `"`, only(5)},
		{`userName sw "user01"`, func(i int) bool { return i >= 10 && i < 20 }},
		{`not (userName sw "user05")`, func(i int) bool { return i < 50 }},
		{`userName co "@EXAMPLE"`, func(int) bool { return true }},
		{`userName ew "7@example.com"`, func(i int) bool { return i%10 == 7 }},
		{`externalId pr`, func(int) bool { return true }},
		{`title pr`, only()},
		{`userName gt "user057@example.com"`, only(58, 59)},
	}
	for _, tc := range cases {
		t.Run(tc.filter, func(t *testing.T) {
			var want []string
			for i, u := range users {
				if tc.match(i) {
					want = append(want, u)
				}
			}
			p := f.list(acme, schema.User, store.Query{Filter: f.parse(tc.filter), Count: 100})
			if got := ids(p.Resources); p.Total != len(want) || !slices.Equal(got, want) {
				t.Errorf("total %d, %v; want %d, %v", p.Total, got, len(want), want)
			}
		})
	}
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{`displayName eq "printers"`, []string{printers}},
		{`externalId eq "g-1"`, []string{printers}},
		{`displayName sw "PRINT"`, []string{printers}},
		{`displayName eq "nothing"`, nil},
	} {
		t.Run("Group "+tc.filter, func(t *testing.T) {
			p := f.list(acme, schema.Group, store.Query{Filter: f.parse(tc.filter), Count: 10})
			if got := ids(p.Resources); p.Total != len(tc.want) || !slices.Equal(got, tc.want) {
				t.Errorf("total %d, %v; want %v", p.Total, got, tc.want)
			}
		})
	}
}

func testSeek(t *testing.T, s *suite) {
	f := s.fresh(t)
	var created []string
	for i := range 7 {
		created = append(created, f.user(acme, fmt.Sprint("u", i)))
	}
	f.user(acme, "other")
	all := idSorted(created)
	cases := []struct {
		name           string
		seek           store.Seek
		count          int
		want           []string
		earlier, later bool
	}{
		{"start", store.Seek{}, 3, all[:3], false, true},
		{"after", store.Seek{Key: all[2]}, 3, all[3:6], true, true},
		{"last page", store.Seek{Key: all[3]}, 3, all[4:7], true, false},
		{"past the end", store.Seek{Key: all[6]}, 3, []string{}, true, false},
		{"count 0", store.Seek{Key: all[2]}, 0, []string{}, true, true},
		{"end backward", store.Seek{Backward: true}, 3, all[4:7], true, false},
		{"before", store.Seek{Key: all[4], Backward: true}, 3, all[1:4], true, true},
		{"first page backward", store.Seek{Key: all[2], Backward: true}, 3, all[0:2], false, true},
		{"before the start backward", store.Seek{Key: all[0], Backward: true}, 3, []string{}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := f.list(acme, schema.User, store.Query{Filter: f.parse(`userName sw "u"`), Seek: &tc.seek, Count: tc.count})
			if got := ids(p.Resources); !slices.Equal(got, tc.want) {
				t.Errorf("page %v, want %v", got, tc.want)
			}
			if p.Total != 7 || p.Earlier != tc.earlier || p.Later != tc.later {
				t.Errorf("total %d earlier %v later %v, want 7 %v %v", p.Total, p.Earlier, p.Later, tc.earlier, tc.later)
			}
		})
	}
	// Unfiltered, the whole list pages the same way, forward and back.
	everyone := idSorted(ids(f.all(acme, schema.User)))
	for _, back := range []bool{false, true} {
		var got []string
		seek := store.Seek{Backward: back}
		for range len(everyone) {
			p := f.list(acme, schema.User, store.Query{Seek: &seek, Count: 3})
			if p.Total != len(everyone) {
				t.Fatalf("total %d, want %d", p.Total, len(everyone))
			}
			if back {
				got = append(slices.Clone(ids(p.Resources)), got...)
				if !p.Earlier {
					break
				}
				seek.Key = id(p.Resources[0])
			} else {
				got = append(got, ids(p.Resources)...)
				if !p.Later {
					break
				}
				seek.Key = id(p.Resources[len(p.Resources)-1])
			}
		}
		if !slices.Equal(got, everyone) {
			t.Errorf("backward %v: paged %v, want %v", back, got, everyone)
		}
	}
	// A deleted position still works: the page continues after it.
	f.del(acme, schema.User, all[3])
	p := f.list(acme, schema.User, store.Query{Filter: f.parse(`userName sw "u"`), Seek: &store.Seek{Key: all[3]}, Count: 2})
	if got := ids(p.Resources); !slices.Equal(got, all[4:6]) || p.Total != 6 || !p.Earlier || !p.Later {
		t.Errorf("after a deleted id: %v total %d earlier %v later %v, want %v", got, p.Total, p.Earlier, p.Later, all[4:6])
	}
	if p := f.list(acme, schema.User, store.Query{Filter: f.parse(`userName eq "nobody"`), Seek: &store.Seek{}, Count: 3}); p.Total != 0 || len(p.Resources) != 0 || p.Earlier || p.Later {
		t.Errorf("seek with no matches: %+v", p)
	}
}
