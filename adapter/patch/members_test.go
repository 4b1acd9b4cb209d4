package patch

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
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
		{name: "replace-filtered-member-with-one-object", members: noListing{t}, body: body(`{"op":"replace","path":"members[value eq \"a\"]","value":{"value":"b","type":"USER"}}`),
			delta: &MemberDelta{Add: []Member{{Value: "b", Type: "User"}}, Remove: []string{"a"}}},
		{name: "value-filter-completed-by-value", body: body(`{"op":"add","path":"members[value eq \"a\"]","value":{"Value":"a","type":"group","display":"A","$ref":"r"}}`),
			delta: &MemberDelta{Add: []Member{{Value: "a", Type: "Group", Ref: "r"}}}},
		{name: "null-sub-attributes", body: body(`{"op":"add","path":"members","value":[{"value":"a","type":null,"$ref":null,"display":null}]}`), delta: &MemberDelta{Add: []Member{{Value: "a"}}}},
		{name: "empty-type", body: body(`{"op":"add","path":"members","value":[{"value":"a","type":""}]}`), delta: &MemberDelta{Add: []Member{{Value: "a"}}}},
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

// TestMalformedMembers checks that a members value is an array of member
// objects whatever the operation and path, and that every problem in a
// member is a 400 invalidValue naming the member by its index.
func TestMalformedMembers(t *testing.T) {
	const bad = http.StatusBadRequest
	iv := string(scimerr.InvalidValue)
	cases := []patchCase{
		{name: "replace-bare-string", body: body(`{"op":"replace","path":"members","value":"x"}`), detail: []string{`operation 1 (replace "members")`, "members must be an array of member objects", "got a string"}},
		{name: "add-bare-string", body: body(`{"op":"add","path":"members","value":"x"}`), detail: []string{"members must be an array", "got a string"}},
		{name: "remove-bare-string", body: body(`{"op":"remove","path":"members","value":"x"}`), detail: []string{"members must be an array", "got a string"}},
		{name: "add-one-object", body: body(`{"op":"add","path":"members","value":{"value":"a"}}`), detail: []string{"members must be an array", "got an object"}},
		{name: "replace-number", body: body(`{"op":"replace","path":"members","value":5}`), detail: []string{"got a number"}},
		{name: "add-bare-ids", body: body(`{"op":"add","path":"members","value":["a"]}`), detail: []string{"members[0] must be an object", "got a string"}},
		{name: "add-null-element", body: body(`{"op":"add","path":"members","value":[{"value":"a"},null]}`), detail: []string{"members[1] must be an object", "got null"}},
		{name: "value-number", body: body(`{"op":"replace","path":"members","value":[{"value":5}]}`), detail: []string{"members[0].value must be a non-empty string", "got a number"}},
		{name: "value-bool", body: body(`{"op":"add","path":"members","value":[{"value":true}]}`), detail: []string{"members[0].value", "got a boolean"}},
		{name: "value-object", body: body(`{"op":"add","path":"members","value":[{"value":{"id":"a"}}]}`), detail: []string{"members[0].value", "got an object"}},
		{name: "value-empty", body: body(`{"op":"add","path":"members","value":[{"value":""}]}`), detail: []string{"members[0].value", "got an empty string"}},
		{name: "value-blank", body: body(`{"op":"add","path":"members","value":[{"value":" \t"}]}`), detail: []string{"members[0].value", "got a blank string"}},
		{name: "value-missing", body: body(`{"op":"replace","path":"members","value":[{"display":"x"}]}`), detail: []string{`members[0] has no "value"`}},
		{name: "value-too-long", body: body(`{"op":"add","path":"members","value":[{"value":"` + strings.Repeat("é", 513) + `"}]}`), detail: []string{"members[0].value is 1026 bytes long", "at most 1024 bytes"}},
		{name: "unknown-attribute", body: body(`{"op":"add","path":"members","value":[{"value":"a"},{"value":"b"},{"value":"c","foo":1}]}`), detail: []string{`members[2] has unknown attribute "foo"`}},
		{name: "primary-is-unknown", body: body(`{"op":"add","path":"members","value":[{"value":"a","primary":true}]}`), detail: []string{`members[0] has unknown attribute "primary"`}},
		{name: "type-number", body: body(`{"op":"add","path":"members","value":[{"value":"a","type":1}]}`), detail: []string{"members[0].type must be a string", "got a number"}},
		{name: "type-unknown", body: body(`{"op":"add","path":"members","value":[{"value":"a","type":"Robot"}]}`), detail: []string{`members[0].type is "Robot"`}},
		{name: "ref-object", body: body(`{"op":"add","path":"members","value":[{"value":"a","$ref":{}}]}`), detail: []string{"members[0].$ref must be a string", "got an object"}},
		{name: "display-number", body: body(`{"op":"add","path":"members","value":[{"value":"a","display":7}]}`), detail: []string{"members[0].display must be a string"}},
		{name: "remove-value-array-bad", body: body(`{"op":"remove","path":"members","value":[{"value":"a","x":1}]}`), detail: []string{`members[0] has unknown attribute "x"`}},
		{name: "pathless-bare-string", body: body(`{"op":"replace","value":{"members":"x"}}`), detail: []string{"members must be an array"}},
		{name: "pathless-bad-member", body: body(`{"op":"replace","value":{"displayName":"X","members":[{"value":"a"},{"value":5}]}}`), detail: []string{"members[1].value"}},
		{name: "value-path-add-string", body: body(`{"op":"add","path":"members[value eq \"a\"]","value":"a"}`), detail: []string{"must be a JSON object", "got a string"}},
		{name: "value-path-add-unknown", body: body(`{"op":"add","path":"members[value eq \"a\"]","value":{"foo":"x"}}`), detail: []string{`members[value eq "a"] has unknown attribute "foo"`}},
		{name: "value-path-add-conflict", body: body(`{"op":"add","path":"members[value eq \"a\"]","value":{"value":"b"}}`), detail: []string{`the value gives value "b" but the path's filter says "a"`}},
		{name: "value-path-add-type-conflict", body: body(`{"op":"add","path":"members[value eq \"a\" and type eq \"User\"]","value":{"type":"Group"}}`), detail: []string{"type"}},
		{name: "value-path-number-id", body: body(`{"op":"add","path":"members[value eq 5]","value":{}}`), detail: []string{".value must be a non-empty string", "got a number"}},
		{name: "value-path-replace-bad-object", members: noListing{t}, body: body(`{"op":"replace","path":"members[value eq \"a\"]","value":{"value":"b","bar":1}}`), detail: []string{`has unknown attribute "bar"`}},
		{name: "value-path-replace-string", members: noListing{t}, body: body(`{"op":"replace","path":"members[value eq \"a\"]","value":"b"}`), detail: []string{"members must be an array"}},
		{name: "bad-after-good-ops", body: body(`{"op":"remove","path":"members"}`, `{"op":"add","path":"members","value":[{"value":"a"}]}`, `{"op":"add","path":"members","value":[{"value":1}]}`), detail: []string{"operation 3", "members[0].value"}},
	}
	for i := range cases {
		cases[i].rt = schema.Group
		cases[i].status = bad
		cases[i].scimType = iv
	}
	runCases(t, cases)
}

// TestParseMembersNamesOnce checks that a member naming an attribute twice
// in two cases is refused even when the JSON decoder in front (which
// refuses such objects first) is not used.
func TestParseMembersNamesOnce(t *testing.T) {
	_, err := ParseMembers("members", []any{map[string]any{"value": "a", "VALUE": "b"}})
	checkErr(t, err, http.StatusBadRequest, string(scimerr.InvalidValue), "members[0] names value twice")
}
