package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// TestObjectMembers checks the walk over a JSON object's members.
func TestObjectMembers(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string // name=value
		end      int
		err      bool
	}{
		{name: "empty", in: ` {} `, end: 3},
		{name: "kinds", in: `{"s":"a\"}b","n":-1.5e3,"t":true,"f":false,"z":null,"o":{"a":[1,{"b":"]"}]},"a":[]}`,
			want: []string{`s="a\"}b"`, `n=-1.5e3`, `t=true`, `f=false`, `z=null`, `o={"a":[1,{"b":"]"}]}`, `a=[]`}, end: 83},
		{name: "spaces", in: "{ \"a\" :\t1 ,\n\"b\" : [ ] }", want: []string{"a=1", "b=[ ]"}, end: 23},
		{name: "escaped name", in: `{"\u0069d":"x","a\\b":1}`, want: []string{`id="x"`, `a\b=1`}, end: 24},
		{name: "trailing data is the caller's", in: `{"a":1}{"b":2}`, want: []string{"a=1"}, end: 7},
		{name: "not an object", in: `["a"]`, err: true},
		{name: "empty input", in: ``, err: true},
		{name: "unterminated object", in: `{"a":1`, err: true},
		{name: "unterminated string", in: `{"a":"x}`, err: true},
		{name: "unterminated array", in: `{"a":[1,2}`, err: true},
		{name: "missing colon", in: `{"a" 1}`, err: true},
		{name: "missing value", in: `{"a":,"b":1}`, err: true},
		{name: "name not a string", in: `{a:1}`, err: true},
		{name: "bad separator", in: `{"a":1;"b":2}`, err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := []byte(c.in)
			var got []string
			end, err := ObjectMembers(b, func(name []byte, start, end int) error {
				got = append(got, string(name)+"="+string(b[start:end]))
				return nil
			})
			if (err != nil) != c.err {
				t.Fatalf("err %v, want error %v", err, c.err)
			}
			if c.err {
				return
			}
			if end != c.end || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %q end %d, want %q end %d", got, end, c.want, c.end)
			}
		})
	}
	stop := errors.New("stop")
	n := 0
	if _, err := ObjectMembers([]byte(`{"a":1,"b":2}`), func([]byte, int, int) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("an error from fn must stop the walk: %v after %d calls", err, n)
	}
}

// TestUnquoteString checks UnquoteString against encoding/json.
func TestUnquoteString(t *testing.T) {
	for _, lit := range []string{
		`""`, `"plain"`, `"W/\"3\""`, `"a\/b\\c"`, `"\b\f\n\r\t"`, `"\u003cb\u003e \u0026"`,
		`"\ud83d\ude00 \u2028"`, `"\ud800 lone"`, `"Zoë"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(lit), &want); err != nil {
			t.Fatal(err)
		}
		if got, ok := UnquoteString([]byte(lit)); !ok || got != want {
			t.Errorf("%s: %q %v, want %q", lit, got, ok, want)
		}
	}
	for _, bad := range []string{``, `"`, `"open`, `x"`, `3`, `null`, `"\"`, `"\x"`} {
		if got, ok := UnquoteString([]byte(bad)); ok {
			t.Errorf("%s: %q, want not ok", bad, got)
		}
	}
}

// TestRawMatchesDecoded checks GetRaw and ListRaw against Get and List:
// the same resources, the same totals, the same pages, and ok false for
// every query ListRaw leaves to List.
func TestRawMatchesDecoded(t *testing.T) {
	s, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var users []string
	for i := 0; i < 12; i++ {
		res, err := s.Create(ctx, "acme", schema.User, map[string]any{
			"userName":    fmt.Sprintf("User%d@Example.com", i),
			"externalId":  []string{"shared", "Shared", fmt.Sprint("e", i)}[i%3],
			"displayName": fmt.Sprint("Name ", i%2),
			"emails":      []any{map[string]any{"value": fmt.Sprintf("u%d@example.com", i%4)}},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, res.Resource["id"].(string))
	}
	long := strings.Repeat("x", maxIndexedValue+10)
	if _, err := s.Create(ctx, "acme", schema.User, map[string]any{"userName": "long", "externalId": long + "a"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "acme", schema.User, map[string]any{"userName": "long2", "externalId": long + "b"}, nil); err != nil {
		t.Fatal(err)
	}
	g, err := s.Create(ctx, "acme", schema.Group, map[string]any{"displayName": "Admins", "externalId": "shared"}, []patch.Member{{Value: users[0]}})
	if err != nil {
		t.Fatal(err)
	}
	group := g.Resource["id"].(string)
	for _, name := range []string{`<Odd> & "quoted" \ Zoë \u2028`, "Plain", "Gone"} {
		g, err := s.Create(ctx, "acme", schema.Group, map[string]any{"displayName": name}, []patch.Member{{Value: users[0]}, {Value: users[1]}})
		if err != nil {
			t.Fatal(err)
		}
		if name == "Gone" {
			if err := s.Delete(ctx, "acme", schema.Group, g.Resource["id"].(string)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, member := range []string{users[0], users[1], users[2], "missing"} {
		raw, err := s.RawGroups(ctx, "acme", member)
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Groups(ctx, "acme", member)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(raw, want) {
			t.Fatalf("RawGroups %s: %v, Groups: %v", member, raw, want)
		}
	}

	for _, id := range append(users[:2], "missing") {
		raw, rerr := s.GetRaw(ctx, "acme", schema.User, id)
		res, gerr := s.Get(ctx, "acme", schema.User, id)
		if (rerr == nil) != (gerr == nil) {
			t.Fatalf("GetRaw %s: %v, Get: %v", id, rerr, gerr)
		}
		if e, ok := scimerr.As(rerr); rerr != nil && (!ok || e.Status != http.StatusNotFound) {
			t.Fatalf("GetRaw %s: %v, want 404", id, rerr)
		}
		if rerr == nil && !reflect.DeepEqual(decodeRaw(t, raw), res) {
			t.Fatalf("GetRaw %s: %s, Get: %v", id, raw, res)
		}
	}

	type query struct {
		rt     *schema.ResourceType
		filter string
		start  int
		count  int
		sort   bool
		seek   bool
		lean   bool
	}
	qs := []query{
		{rt: schema.User, filter: `userName eq "user3@example.COM"`, count: 10, lean: true},
		{rt: schema.User, filter: `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "user3@example.com"`, count: 10, lean: true},
		{rt: schema.User, filter: `externalId eq "shared"`, count: 10, lean: true},
		{rt: schema.User, filter: `externalId eq "SHARED"`, count: 10, lean: true},
		{rt: schema.User, filter: `externalId eq "shared"`, start: 3, count: 1, lean: true},
		{rt: schema.User, filter: `externalId eq "shared"`, start: 9, count: 10, lean: true},
		{rt: schema.User, filter: `externalId eq "shared"`, count: 0, lean: true},
		{rt: schema.User, filter: `externalId eq "` + long + `a"`, count: 10, lean: true},
		{rt: schema.User, filter: `displayName eq "name 1"`, start: 2, count: 3, lean: true},
		{rt: schema.User, filter: `emails.value eq "U1@example.com"`, count: 10, lean: true},
		{rt: schema.User, filter: `id eq "` + users[5] + `"`, count: 10, lean: true},
		{rt: schema.User, filter: `id eq "` + strings.ToUpper(users[5]) + `"`, count: 10, lean: true},
		{rt: schema.User, filter: `id eq "` + group + `"`, count: 10, lean: true},
		{rt: schema.User, filter: `id eq ""`, count: 10, lean: true},
		{rt: schema.User, filter: `externalId eq 7`, count: 10, lean: true},
		{rt: schema.Group, filter: `displayName eq "admins"`, count: 10, lean: true},
		{rt: schema.Group, filter: `externalId eq "shared"`, count: 10, lean: true},
		{rt: schema.User, filter: `nickName eq "x"`, count: 10},
		{rt: schema.User, filter: `userName sw "user"`, count: 10},
		{rt: schema.User, filter: `userName eq null`, count: 10},
		{rt: schema.User, filter: `userName eq "a" or userName eq "b"`, count: 10},
		{rt: schema.User, filter: `emails[value eq "u1@example.com"]`, count: 10},
		{rt: schema.User, filter: `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x"`, count: 10},
		{rt: schema.User, filter: `externalId eq "shared"`, count: 10, sort: true},
		{rt: schema.User, filter: `externalId eq "shared"`, count: 10, seek: true},
		{rt: schema.User, count: 10, lean: true},
		{rt: schema.User, start: 4, count: 3, lean: true},
		{rt: schema.User, start: 1000, count: 3, lean: true},
		{rt: schema.User, count: 0, lean: true},
		{rt: schema.Group, count: 10, lean: true},
		{rt: schema.User, count: 10, sort: true},
		{rt: schema.User, count: 10, seek: true},
	}
	for _, c := range qs {
		t.Run(fmt.Sprintf("%s %s %d %d %v %v", c.rt.Name, c.filter, c.start, c.count, c.sort, c.seek), func(t *testing.T) {
			q := Query{StartIndex: c.start, Count: c.count}
			if c.filter != "" {
				if q.Filter, err = filter.Parse(c.filter); err != nil {
					t.Fatal(err)
				}
			}
			if c.sort {
				q.SortBy = &filter.Path{Attr: "userName"}
			}
			if c.seek {
				q.Seek = &Seek{}
			}
			raw, ok, err := s.ListRaw(ctx, "acme", c.rt, q)
			if err != nil {
				t.Fatal(err)
			}
			if ok != c.lean {
				t.Fatalf("ok %v, want %v", ok, c.lean)
			}
			if !ok {
				return
			}
			page, err := s.List(ctx, "acme", c.rt, q)
			if err != nil {
				t.Fatal(err)
			}
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
}

func decodeRaw(t *testing.T, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}
