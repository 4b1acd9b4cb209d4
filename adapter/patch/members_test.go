package patch

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// TestMemberDelta checks how operations on members compose into one
// MemberDelta, in request order.
func TestMemberDelta(t *testing.T) {
	add := func(ids ...string) string {
		v := ""
		for i, id := range ids {
			if i > 0 {
				v += ","
			}
			v += `{"value":"` + id + `"}`
		}
		return `{"op":"add","path":"members","value":[` + v + `]}`
	}
	rm := func(id string) string { return `{"op":"remove","path":"members[value eq \"` + id + `\"]"}` }
	current := []Member{{Value: "u1", Type: "User"}, {Value: "u2", Type: "User"}, {Value: "g1", Type: "Group"}}
	cases := []patchCase{
		{name: "remove-then-add-adds", body: body(rm("x"), add("x")), delta: &MemberDelta{Add: []Member{{Value: "x"}}}},
		{name: "add-then-remove-removes", body: body(add("x"), rm("x")), delta: &MemberDelta{Remove: []string{"x"}}},
		{name: "clear-then-add", body: body(`{"op":"remove","path":"members"}`, add("y")), delta: &MemberDelta{Clear: true, Add: []Member{{Value: "y"}}}},
		{name: "add-then-clear", body: body(add("y"), `{"op":"remove","path":"members"}`), delta: &MemberDelta{Clear: true}},
		{name: "clear-then-remove-keeps-remove-empty", body: body(`{"op":"remove","path":"members"}`, add("a", "b"), rm("a")), delta: &MemberDelta{Clear: true, Add: []Member{{Value: "b"}}}},
		{name: "add-is-deduplicated", body: body(add("x", "y", "x"), add("y")), delta: &MemberDelta{Add: []Member{{Value: "x"}, {Value: "y"}}}},
		{name: "add-fills-type-and-ref", body: body(add("x"), `{"op":"add","path":"members","value":[{"value":"x","type":"group","$ref":"https://example.com/v2/Groups/x"}]}`),
			delta: &MemberDelta{Add: []Member{{Value: "x", Type: "Group", Ref: "https://example.com/v2/Groups/x"}}}},
		{name: "remove-is-deduplicated", body: body(rm("x"), rm("x")), delta: &MemberDelta{Remove: []string{"x"}}},
		{name: "remove-add-remove", body: body(rm("x"), add("x"), rm("x")), delta: &MemberDelta{Remove: []string{"x"}}},
		{name: "or-of-value-eq", members: noListing{t}, body: body(`{"op":"remove","path":"members[value eq \"a\" or value eq \"b\" or value eq \"c\"]"}`), delta: &MemberDelta{Remove: []string{"a", "b", "c"}}},
		{name: "value-eq-in-any-case", members: noListing{t}, body: body(`{"op":"Remove","path":"MEMBERS[VALUE EQ \"a\"]"}`), delta: &MemberDelta{Remove: []string{"a"}}},
		{name: "replace-members-list", body: body(`{"op":"replace","path":"members","value":[{"value":"a"},{"value":"b"}]}`), delta: &MemberDelta{Clear: true, Add: []Member{{Value: "a"}, {Value: "b"}}}},
		{name: "replace-members-empty-list", body: body(`{"op":"replace","path":"members","value":[]}`), delta: &MemberDelta{Clear: true}},
		{name: "replace-members-null", body: body(`{"op":"replace","path":"members","value":null}`), delta: &MemberDelta{Clear: true}},
		{name: "remove-members-empty-value-removes-nobody", body: body(`{"op":"remove","path":"members","value":[]}`), delta: &MemberDelta{}},
		{name: "add-members-empty-list", body: body(`{"op":"add","path":"members","value":[]}`), delta: &MemberDelta{}},
		{name: "pathless-add-members", body: body(`{"op":"add","value":{"members":[{"value":"a"}]}}`), delta: &MemberDelta{Add: []Member{{Value: "a"}}}},
		{name: "single-member-object", body: body(`{"op":"add","path":"members","value":{"value":"a"}}`), delta: &MemberDelta{Add: []Member{{Value: "a"}}}},
		{name: "bare-id-string", body: body(`{"op":"add","path":"members","value":["a"]}`), delta: &MemberDelta{Add: []Member{{Value: "a"}}}},
		{name: "display-is-ignored", body: body(`{"op":"add","path":"members","value":[{"value":"a","display":"Anne"}]}`), delta: &MemberDelta{Add: []Member{{Value: "a"}}}},
		{name: "urn-qualified-members-path", body: body(`{"op":"add","path":"urn:ietf:params:scim:schemas:core:2.0:Group:members","value":[{"value":"a"}]}`), delta: &MemberDelta{Add: []Member{{Value: "a"}}}},
		{name: "add-with-value-filter", body: body(`{"op":"add","path":"members[value eq \"a\"]","value":null}`), delta: &MemberDelta{Add: []Member{{Value: "a"}}}},
		{name: "filter-by-type-reads-membership", members: &fakeMembers{list: current}, body: body(`{"op":"remove","path":"members[type eq \"Group\"]"}`), delta: &MemberDelta{Remove: []string{"g1"}}},
		{name: "filter-sees-earlier-operations", members: &fakeMembers{list: current},
			body:  body(`{"op":"add","path":"members","value":[{"value":"g2","type":"Group"}]}`, rm("g1"), `{"op":"remove","path":"members[type eq \"Group\" or value eq \"u2\"]"}`),
			delta: &MemberDelta{Remove: []string{"g1", "u2", "g2"}}},
		{name: "filter-after-clear-sees-only-added", members: &fakeMembers{list: current},
			body:  body(`{"op":"replace","path":"members","value":[{"value":"g3","type":"Group"},{"value":"u9","type":"User"}]}`, `{"op":"remove","path":"members[type eq \"Group\"]"}`),
			delta: &MemberDelta{Clear: true, Add: []Member{{Value: "u9", Type: "User"}}}},
		{name: "replace-filtered-members", members: &fakeMembers{list: current},
			body:  body(`{"op":"replace","path":"members[type eq \"Group\"]","value":[{"value":"g7","type":"Group"}]}`),
			delta: &MemberDelta{Add: []Member{{Value: "g7", Type: "Group"}}, Remove: []string{"g1"}}},
		{name: "displayName-and-members-together", body: body(`{"op":"replace","path":"displayName","value":"Leads"}`, add("a")),
			want: map[string]string{"displayName": `"Leads"`}, delta: &MemberDelta{Add: []Member{{Value: "a"}}}},
		{name: "untouched-members-give-nil-delta", body: body(`{"op":"replace","path":"displayName","value":"Leads"}`), want: map[string]string{"displayName": `"Leads"`}},
	}
	for i := range cases {
		cases[i].rt = schema.Group
	}
	runCases(t, cases)

	t.Run("list-is-read-once", func(t *testing.T) {
		fm := &fakeMembers{list: current}
		_, err := run(t, schema.Group, decodeJSON(t, sampleGroup), body(
			`{"op":"remove","path":"members[type eq \"Group\"]"}`,
			`{"op":"remove","path":"members[value sw \"u\"]"}`,
		), fm)
		if err != nil {
			t.Fatal(err)
		}
		if fm.calls != 1 {
			t.Errorf("List called %d times, want 1", fm.calls)
		}
	})
	t.Run("list-error-is-internal", func(t *testing.T) {
		boom := errors.New("disk on fire")
		_, err := run(t, schema.Group, decodeJSON(t, sampleGroup), body(`{"op":"remove","path":"members[type eq \"Group\"]"}`), &fakeMembers{err: boom})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want it to wrap the List error", err)
		}
		if _, ok := scimerr.As(err); ok {
			t.Errorf("a storage failure became a SCIM error: %v", err)
		}
		if scimerr.From(err).Status != http.StatusInternalServerError {
			t.Errorf("status = %d, want 500", scimerr.From(err).Status)
		}
	})
	t.Run("nil-members-reads-as-empty", func(t *testing.T) {
		r, err := run(t, schema.Group, decodeJSON(t, sampleGroup), body(`{"op":"remove","path":"members[type eq \"Group\"]"}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r.Members, &MemberDelta{}) {
			t.Errorf("members = %s", mustJSON(r.Members))
		}
	})
	t.Run("many-members-stay-linear", func(t *testing.T) {
		ops := make([]Operation, 0, 2)
		vals := make([]any, 50000)
		for i := range vals {
			vals[i] = map[string]any{"value": "u" + itoa(i)}
		}
		ops = append(ops, Operation{Op: "add", Path: "members", Value: vals}, Operation{Op: "remove", Path: "members", Value: vals[:25000]})
		r, err := Apply(context.Background(), schema.Group, decodeJSON(t, sampleGroup), ops, noListing{t})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Members.Add) != 25000 || len(r.Members.Remove) != 25000 || r.Members.Add[0].Value != "u25000" {
			t.Errorf("got %d adds (first %v), %d removes", len(r.Members.Add), r.Members.Add[0], len(r.Members.Remove))
		}
	})
}
