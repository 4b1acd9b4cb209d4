package server

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// memberFixture is a tenant with three users, a second group and a group
// whose members are two of the users and the second group.
type memberFixture struct {
	h          *harness
	u1, u2, u3 string
	sub, group string
}

func newMemberFixture(t *testing.T, cfg Config) *memberFixture {
	t.Helper()
	f := &memberFixture{h: newHarness(t, cfg)}
	f.u1 = f.h.must("POST", "/Users", `{`+userSchemas+`,"userName":"u1"}`, http.StatusCreated)["id"].(string)
	f.u2 = f.h.must("POST", "/Users", `{`+userSchemas+`,"userName":"u2"}`, http.StatusCreated)["id"].(string)
	f.u3 = f.h.must("POST", "/Users", `{`+userSchemas+`,"userName":"u3"}`, http.StatusCreated)["id"].(string)
	f.sub = f.h.must("POST", "/Groups", group(`"displayName":"Sub"`), http.StatusCreated)["id"].(string)
	f.group = f.h.must("POST", "/Groups", group(`"displayName":"Printers","members":[{"value":"`+f.u1+`"},{"value":"`+f.u2+`"},{"value":"`+f.sub+`","type":"Group"}]`), http.StatusCreated)["id"].(string)
	return f
}

const (
	userSchemas  = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`
	groupSchemas = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]`
)

// group returns a Group body with the attributes of rest, a list of
// `"name":value` pairs.
func group(rest string) string { return `{` + groupSchemas + `,` + rest + `}` }

// expand replaces {u1}, {u2}, {u3}, {sub} and {group} with the fixture's ids.
func (f *memberFixture) expand(s string) string {
	return strings.NewReplacer("{u1}", f.u1, "{u2}", f.u2, "{u3}", f.u3, "{sub}", f.sub, "{group}", f.group).Replace(s)
}

func patchBody(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// TestMalformedMembersWriteNothing sends malformed members through every
// way a request can carry them and checks that each is refused with 400
// invalidValue naming the problem, and that the group keeps its three
// members and the journal gains nothing.
func TestMalformedMembersWriteNothing(t *testing.T) {
	put := group(`"displayName":"Printers","members":%s`)
	cases := []struct {
		name, method, path, body string
		detail                   []string
	}{
		{name: "put-string", method: "PUT", body: `"x"`, detail: []string{"members must be an array", "got a string"}},
		{name: "put-object", method: "PUT", body: `{"value":"{u1}"}`, detail: []string{"members must be an array", "got an object"}},
		{name: "put-number", method: "PUT", body: `5`, detail: []string{"got a number"}},
		{name: "put-value-number", method: "PUT", body: `[{"value":5}]`, detail: []string{"members[0].value must be a non-empty string", "got a number"}},
		{name: "put-value-number-after-good", method: "PUT", body: `[{"value":"{u1}"},{"value":"{u2}"},{"value":5}]`, detail: []string{"members[2].value"}},
		{name: "put-display-only", method: "PUT", body: `[{"display":"x"}]`, detail: []string{`members[0] has no "value"`}},
		{name: "put-value-empty", method: "PUT", body: `[{"value":""}]`, detail: []string{"members[0].value must be a non-empty string"}},
		{name: "put-value-blank", method: "PUT", body: `[{"value":"  "}]`, detail: []string{"members[0].value must be a non-empty string"}},
		{name: "put-value-null", method: "PUT", body: `[{"value":null}]`, detail: []string{"members[0].value", "got null"}},
		{name: "put-value-array", method: "PUT", body: `[{"value":["{u1}"]}]`, detail: []string{"got an array"}},
		{name: "put-bare-id", method: "PUT", body: `["{u1}"]`, detail: []string{"members[0] must be an object", "got a string"}},
		{name: "put-null-element", method: "PUT", body: `[null]`, detail: []string{"members[0] must be an object", "got null"}},
		{name: "put-unknown-attribute", method: "PUT", body: `[{"value":"{u1}"},{"value":"{u2}"},{"value":"{u3}","foo":1}]`, detail: []string{`members[2] has unknown attribute "foo"`}},
		{name: "put-type-number", method: "PUT", body: `[{"value":"{u1}","type":1}]`, detail: []string{"members[0].type must be a string"}},
		{name: "put-type-unknown", method: "PUT", body: `[{"value":"{u1}","type":"Robot"}]`, detail: []string{"members[0].type", `"Robot"`}},
		{name: "put-ref-object", method: "PUT", body: `[{"value":"{u1}","$ref":{}}]`, detail: []string{"members[0].$ref must be a string"}},
		{name: "put-display-bool", method: "PUT", body: `[{"value":"{u1}","display":true}]`, detail: []string{"members[0].display must be a string"}},
		{name: "put-value-too-long", method: "PUT", body: `[{"value":"` + strings.Repeat("a", 1025) + `"}]`, detail: []string{"members[0].value", "1024 bytes"}},
		{name: "put-urn-key", method: "PUT-RAW", body: group(`"displayName":"Printers","urn:ietf:params:scim:schemas:core:2.0:Group:members":"x"`), detail: []string{"members must be an array"}},
		{name: "post-value-number", method: "POST", body: group(`"displayName":"Other","members":[{"value":5}]`), detail: []string{"members[0].value"}},
		{name: "patch-replace-string", method: "PATCH", body: patchBody(`{"op":"replace","path":"members","value":"x"}`), detail: []string{`operation 1 (replace "members")`, "members must be an array", "got a string"}},
		{name: "patch-replace-value-number", method: "PATCH", body: patchBody(`{"op":"replace","path":"members","value":[{"value":5}]}`), detail: []string{"members[0].value"}},
		{name: "patch-replace-display-only", method: "PATCH", body: patchBody(`{"op":"replace","path":"members","value":[{"display":"x"}]}`), detail: []string{`members[0] has no "value"`}},
		{name: "patch-add-bare-ids", method: "PATCH", body: patchBody(`{"op":"add","path":"members","value":["{u3}"]}`), detail: []string{"members[0] must be an object"}},
		{name: "patch-add-unknown-attribute", method: "PATCH", body: patchBody(`{"op":"add","path":"members","value":[{"value":"{u3}","primary":true}]}`), detail: []string{`members[0] has unknown attribute "primary"`}},
		{name: "patch-remove-value-string", method: "PATCH", body: patchBody(`{"op":"remove","path":"members","value":"{u1}"}`), detail: []string{"members must be an array"}},
		{name: "patch-remove-value-unknown-attribute", method: "PATCH", body: patchBody(`{"op":"remove","path":"members","value":[{"value":"{u1}","foo":"x"}]}`), detail: []string{`members[0] has unknown attribute "foo"`}},
		{name: "patch-value-path-unknown-attribute", method: "PATCH", body: patchBody(`{"op":"add","path":"members[value eq \"{u3}\"]","value":{"foo":1}}`), detail: []string{`has unknown attribute "foo"`}},
		{name: "patch-value-path-conflict", method: "PATCH", body: patchBody(`{"op":"add","path":"members[value eq \"{u3}\"]","value":{"value":"{u1}"}}`), detail: []string{"value"}},
		{name: "patch-value-path-string", method: "PATCH", body: patchBody(`{"op":"add","path":"members[value eq \"{u3}\"]","value":"{u3}"}`), detail: []string{"must be a JSON object"}},
		{name: "patch-value-path-replace-bad", method: "PATCH", body: patchBody(`{"op":"replace","path":"members[value eq \"{u1}\"]","value":[{"value":"{u3}","bar":1}]}`), detail: []string{`has unknown attribute "bar"`}},
		{name: "patch-pathless-string", method: "PATCH", body: patchBody(`{"op":"replace","value":{"members":"x"}}`), detail: []string{"members must be an array"}},
		{name: "patch-pathless-value-number", method: "PATCH", body: patchBody(`{"op":"replace","value":{"displayName":"Renamed","members":[{"value":"{u1}"},{"value":5}]}}`), detail: []string{"members[1].value"}},
		{name: "patch-second-op-bad", method: "PATCH", body: patchBody(`{"op":"remove","path":"members"}`, `{"op":"add","path":"members","value":[{"value":"{u1}","x":1}]}`), detail: []string{"operation 2", `members[0] has unknown attribute "x"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newMemberFixture(t, Config{})
			before := f.h.journalLen()
			want := memberIDs(f.h, f.group)
			var method, path, body string
			switch tc.method {
			case "PUT":
				method, path, body = "PUT", "/Groups/"+f.group, strings.Replace(put, "%s", tc.body, 1)
			case "PUT-RAW":
				method, path, body = "PUT", "/Groups/"+f.group, tc.body
			case "POST":
				method, path, body = "POST", "/Groups", tc.body
			case "PATCH":
				method, path, body = "PATCH", "/Groups/"+f.group, tc.body
			}
			body = f.expand(body)
			w, m := f.h.do(method, path, body)
			checkInvalidValue(t, w.Code, m, tc.detail)
			if got := memberIDs(f.h, f.group); !reflect.DeepEqual(got, want) {
				t.Errorf("members = %v, want %v", got, want)
			}
			if n := f.h.journalLen(); n != before {
				t.Errorf("journal grew from %d to %d events", before, n)
			}
			if got := f.h.must("GET", "/Groups/"+f.group, "", http.StatusOK)["displayName"]; got != "Printers" {
				t.Errorf("displayName = %v", got)
			}

			// The same request inside a Bulk operation fails alone, the same way.
			if method == "POST" {
				return
			}
			op := `{"method":"` + method + `","path":"/Groups/` + f.group + `","data":` + body + `}`
			res := f.h.bulk(bulkRequest(0, op))
			resp, _ := res[0]["response"].(map[string]any)
			status, _ := res[0]["status"].(string)
			if status != "400" || resp["scimType"] != string(scimerr.InvalidValue) {
				t.Errorf("bulk entry = %v", res[0])
			}
			for _, d := range tc.detail {
				if !strings.Contains(detail(res[0]), d) {
					t.Errorf("bulk detail %q does not contain %q", detail(res[0]), d)
				}
			}
			if got := memberIDs(f.h, f.group); !reflect.DeepEqual(got, want) {
				t.Errorf("after bulk: members = %v, want %v", got, want)
			}
			if n := f.h.journalLen(); n != before {
				t.Errorf("after bulk: journal grew from %d to %d events", before, n)
			}
		})
	}
}

func checkInvalidValue(t *testing.T, code int, m map[string]any, detail []string) {
	t.Helper()
	if code != http.StatusBadRequest || m["scimType"] != string(scimerr.InvalidValue) || m["status"] != "400" {
		t.Fatalf("got %d %v, want 400 invalidValue", code, m)
	}
	d, _ := m["detail"].(string)
	for _, want := range detail {
		if !strings.Contains(d, want) {
			t.Errorf("detail %q does not contain %q", d, want)
		}
	}
}

// TestWellFormedMembers checks what stays accepted: null and [] in a PUT
// clear the membership (RFC 7644 §3.5.1 replaces every writable attribute),
// a PUT without members leaves it alone, $ref, type and display are
// accepted, attribute names are case-insensitive, and a remove with a value
// array removes only the ids it lists.
func TestWellFormedMembers(t *testing.T) {
	cases := []struct {
		name, method, body string
		want               []string
	}{
		{name: "put-null-clears", method: "PUT", body: group(`"displayName":"Printers","members":null`)},
		{name: "put-empty-clears", method: "PUT", body: group(`"displayName":"Printers","members":[]`)},
		{name: "put-without-members-keeps", method: "PUT", body: group(`"displayName":"Printers"`), want: []string{"{u1}", "{u2}", "{sub}"}},
		{name: "put-full-members", method: "PUT", body: group(`"displayName":"Printers","members":[{"value":"{u3}","$ref":"https://scim.example.com/scim/v2/acme/Users/{u3}","type":"User","display":"U3"},{"Value":"{u1}","TYPE":"user","Display":null}]`), want: []string{"{u1}", "{u3}"}},
		{name: "patch-add-with-display", method: "PATCH", body: patchBody(`{"op":"add","path":"members","value":[{"value":"{u3}","display":"U3"}]}`), want: []string{"{u1}", "{u2}", "{u3}", "{sub}"}},
		{name: "patch-replace-null-clears", method: "PATCH", body: patchBody(`{"op":"replace","path":"members","value":null}`)},
		{name: "patch-replace-empty-clears", method: "PATCH", body: patchBody(`{"op":"replace","path":"members","value":[]}`)},
		{name: "patch-remove-value-array-removes-only-those", method: "PATCH", body: patchBody(`{"op":"Remove","path":"members","value":[{"value":"{u2}"}]}`), want: []string{"{u1}", "{sub}"}},
		{name: "patch-remove-all", method: "PATCH", body: patchBody(`{"op":"remove","path":"members"}`)},
		{name: "patch-value-path-add", method: "PATCH", body: patchBody(`{"op":"add","path":"members[value eq \"{u3}\"]","value":{"display":"U3","type":"User"}}`), want: []string{"{u1}", "{u2}", "{u3}", "{sub}"}},
		{name: "patch-value-path-replace-object", method: "PATCH", body: patchBody(`{"op":"replace","path":"members[value eq \"{u1}\"]","value":{"value":"{u3}"}}`), want: []string{"{u2}", "{u3}", "{sub}"}},
		{name: "patch-pathless-replace", method: "PATCH", body: patchBody(`{"op":"replace","value":{"members":[{"value":"{u3}"}]}}`), want: []string{"{u3}"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newMemberFixture(t, Config{})
			status := http.StatusOK
			if tc.method == "PATCH" {
				status = http.StatusNoContent
			}
			f.h.must(tc.method, "/Groups/"+f.group, f.expand(tc.body), status)
			var want []string
			for _, w := range tc.want {
				want = append(want, f.expand(w))
			}
			if want != nil {
				want = sorted(want...)
			}
			if got := memberIDs(f.h, f.group); !reflect.DeepEqual(got, want) {
				t.Errorf("members = %v, want %v", got, want)
			}
		})
	}
}

// TestMemberIDIsAuthoritative checks that a member whose type disagrees
// with what its id names is still a member, stored and returned with the
// type of the resource its id names.
func TestMemberIDIsAuthoritative(t *testing.T) {
	cases := []struct {
		name, body string
	}{
		{name: "post", body: `POST /Groups ` + group(`"displayName":"G","members":[{"value":"{u1}","type":"Group"},{"value":"{other}","type":"User"}]`)},
		{name: "put", body: `PUT /Groups/{sub} ` + group(`"displayName":"Sub","members":[{"value":"{u1}","type":"Group"},{"value":"{other}","type":"User"}]`)},
		{name: "patch-add", body: `PATCH /Groups/{sub} ` + patchBody(`{"op":"add","path":"members","value":[{"value":"{u1}","type":"Group"},{"value":"{other}","type":"User"}]}`)},
		{name: "patch-value-path", body: `PATCH /Groups/{sub} ` + patchBody(`{"op":"add","path":"members[value eq \"{u1}\" and type eq \"Group\"]","value":{"display":"U1"}}`, `{"op":"add","path":"members[value eq \"{other}\"]","value":{"type":"User"}}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var skipped [][]string
			f := newMemberFixture(t, Config{OnSkippedMembers: func(_ context.Context, _, _ string, ids []string) {
				skipped = append(skipped, ids)
			}})
			other := f.h.must("POST", "/Groups", group(`"displayName":"Other"`), http.StatusCreated)["id"].(string)
			parts := strings.SplitN(strings.ReplaceAll(f.expand(tc.body), "{other}", other), " ", 3)
			w, m := f.h.do(parts[0], parts[1], parts[2])
			if w.Code >= 300 {
				t.Fatalf("%d %v", w.Code, m)
			}
			id := f.sub
			if parts[0] == "POST" {
				id = m["id"].(string)
			}
			g := f.h.must("GET", "/Groups/"+id, "", http.StatusOK)
			got := map[string]string{}
			ms, _ := g["members"].([]any)
			for _, el := range ms {
				mm := el.(map[string]any)
				got[mm["value"].(string)] = mm["type"].(string) + " " + mm["$ref"].(string)
			}
			want := map[string]string{
				f.u1:  "User https://scim.example.com/scim/v2/acme/Users/" + f.u1,
				other: "Group https://scim.example.com/scim/v2/acme/Groups/" + other,
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("members = %v, want %v", got, want)
			}
			if len(skipped) != 0 {
				t.Errorf("skipped %v", skipped)
			}
			// The user's groups list the group too.
			u := f.h.must("GET", "/Users/"+f.u1, "", http.StatusOK)
			found := false
			gs, _ := u["groups"].([]any)
			for _, el := range gs {
				found = found || el.(map[string]any)["value"] == id
			}
			if !found {
				t.Errorf("user's groups = %v, want %s among them", u["groups"], id)
			}
		})
	}
}

// TestSkippedMembersHook checks that ids naming no resource are skipped,
// the rest applied, and the hook told which ids of which group were
// skipped, once per request, for every way members are written.
func TestSkippedMembersHook(t *testing.T) {
	type call struct {
		tenant, group string
		ids           []string
	}
	cases := []struct {
		name, method, body string
		post               bool
		want               []string
	}{
		{name: "post", method: "POST", post: true, body: group(`"displayName":"G","members":[{"value":"{u1}"},{"value":"ghost-1"},{"value":"ghost-2","type":"Group"}]`), want: []string{"ghost-1", "ghost-2"}},
		{name: "put", method: "PUT", body: group(`"displayName":"Printers","members":[{"value":"{u1}"},{"value":"ghost-1"}]`), want: []string{"ghost-1"}},
		{name: "patch", method: "PATCH", body: patchBody(`{"op":"add","path":"members","value":[{"value":"ghost-1"}]}`), want: []string{"ghost-1"}},
		{name: "patch-self", method: "PATCH", body: patchBody(`{"op":"add","path":"members","value":[{"value":"{group}"}]}`), want: []string{"{group}"}},
		{name: "bulk", method: "BULK", body: bulkRequest(0, `{"method":"PATCH","path":"/Groups/{group}","data":`+patchBody(`{"op":"add","path":"members","value":[{"value":"ghost-1"}]}`)+`}`), want: []string{"ghost-1"}},
		{name: "none-skipped", method: "PATCH", body: patchBody(`{"op":"add","path":"members","value":[{"value":"{u3}"}]}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var calls []call
			f := newMemberFixture(t, Config{OnSkippedMembers: func(_ context.Context, tenant, group string, ids []string) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, call{tenant, group, ids})
			}})
			mu.Lock()
			calls = nil
			mu.Unlock()
			var id string
			switch tc.method {
			case "POST":
				id = f.h.must("POST", "/Groups", f.expand(tc.body), http.StatusCreated)["id"].(string)
			case "BULK":
				res := f.h.bulk(f.expand(tc.body))
				if res[0]["status"] != "204" {
					t.Fatalf("bulk entry = %v", res[0])
				}
				id = f.group
			default:
				status := http.StatusOK
				if tc.method == "PATCH" {
					status = http.StatusNoContent
				}
				f.h.must(tc.method, "/Groups/"+f.group, f.expand(tc.body), status)
				id = f.group
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.want == nil {
				if len(calls) != 0 {
					t.Errorf("calls = %v, want none", calls)
				}
				return
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, f.expand(w))
			}
			if len(calls) != 1 || calls[0].tenant != "acme" || calls[0].group != id || !reflect.DeepEqual(sorted(calls[0].ids...), sorted(want...)) {
				t.Errorf("calls = %v, want one for group %s with %v", calls, id, want)
			}
		})
	}
}

// TestBodyMembersNamedTwice checks that a body naming members twice, in two
// spellings, is refused rather than one of them winning at random, even
// when the JSON decoder in front (which refuses such bodies first) is not
// used.
func TestBodyMembersNamedTwice(t *testing.T) {
	body := map[string]any{"members": []any{}, "urn:ietf:params:scim:schemas:core:2.0:Group:members": []any{map[string]any{"value": "a"}}}
	_, _, err := bodyMembers(schema.Group, body)
	e, ok := scimerr.As(err)
	if !ok || e.Status != http.StatusBadRequest || e.ScimType != scimerr.InvalidValue || !strings.Contains(e.Detail, "members is given twice") {
		t.Errorf("err = %v, want 400 invalidValue saying members is given twice", err)
	}
}
