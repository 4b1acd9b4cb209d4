package patch

import (
	"context"
	"reflect"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// fuzzSeeds are the PATCH bodies of IDP-DIALECTS.md and RFC 7644 §3.5.2.
var fuzzSeeds = []string{
	body(`{"op":"Replace","path":"active","value":"False"}`),
	body(`{"op":"replace","value":{"active":"False"}}`),
	body(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"a@contoso.example"}`),
	body(`{"op":"Add","path":"addresses[type eq \"work\"].locality","value":"Redmond"}`, `{"op":"Add","path":"addresses[type eq \"work\"].postalCode","value":"98052"}`),
	body(`{"op":"Replace","path":"name.familyName","value":"Vance"}`),
	body(`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"1234"}`),
	body(`{"op":"replace","value":{"name.givenName":"Kkom","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}`),
	body(`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m1"}`),
	body(`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":""}}`),
	body(`{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}`),
	body(`{"op":"Add","path":"members","value":[{"value":"u1"}]}`),
	body(`{"op":"Remove","path":"members","value":[{"value":"u1"}]}`),
	body(`{"op":"remove","path":"members[value eq \"u1\"]"}`),
	body(`{"op":"remove","path":"members[type eq \"Group\" or value eq \"u2\"]"}`),
	body(`{"op":"replace","value":{"id":"` + groupID + `","displayName":"Leads"}}`),
	body(`{"op":"replace","value":{"active":false}}`),
	body(`{"op":"remove","path":"members[value eq \"u1\"]"}`, `{"op":"add","path":"members","value":[{"value":"u2","display":"B"}]}`),
	body(`{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"F","manager":{"value":"m2","displayName":"B"}}}}`),
	body(`{"op":"add","value":{"emails":[{"value":"babs@jensen.org","type":"home"}],"nickname":"Babs"}}`),
	body(`{"op":"remove","path":"emails[type eq \"work\" and value ew \"example.com\"]"}`),
	body(`{"op":"replace","path":"addresses[type eq \"work\"]","value":{"type":"work","streetAddress":"911 Universal City Plaza","primary":true}}`),
	body(`{"op":"replace","path":"members","value":[{"value":"a"},{"value":"b"}]}`),
	body(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:Custom:2.0:User:badge","value":"7"}`),
	body(`{"op":"remove","path":"userName"}`),
	body(`{"op":"replace","path":"displayName","value":""}`),
	`{"Operations":[{"op":"add","path":"emails","value":[{"value":"x","primary":"True"}]}]}`,
}

// FuzzApply decodes and applies arbitrary PATCH bodies to a sample User and
// Group. It must never panic; every failure must be a 4xx SCIM error; every
// success must be a canonical resource that still has its required attribute,
// with a consistent member delta; the input must be left as it was.
func FuzzApply(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	user := decodeJSON(f, sampleUser)
	group := decodeJSON(f, sampleGroup)
	current := []Member{{Value: "u1", Type: "User"}, {Value: "u2", Type: "User"}, {Value: "g1", Type: "Group"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := Decode(data)
		if err != nil {
			checkClientError(t, err)
			return
		}
		for _, tc := range []struct {
			rt  *schema.ResourceType
			res map[string]any
		}{{schema.User, user}, {schema.Group, group}} {
			before := schema.CopyMap(tc.res)
			r, err := Apply(context.Background(), tc.rt, tc.res, req.Operations, &fakeMembers{list: current})
			if !reflect.DeepEqual(before, tc.res) {
				t.Fatalf("Apply modified its input")
			}
			if err != nil {
				checkClientError(t, err)
				continue
			}
			for _, a := range tc.rt.Schema.Attributes {
				if s, _ := r.Resource[a.Name].(string); a.Required && s == "" {
					t.Fatalf("%s lost its required %s: %s", tc.rt.Name, a.Name, mustJSON(r.Resource))
				}
			}
			checkCanonical(t, tc.rt, r.Resource)
			checkDelta(t, tc.rt, r.Members)
		}
	})
}

func checkClientError(t *testing.T, err error) {
	t.Helper()
	se, ok := scimerr.As(err)
	if !ok {
		t.Fatalf("error is not a *scimerr.Error: %v", err)
	}
	if se.Status < 400 || se.Status > 499 || se.Detail == "" {
		t.Fatalf("error %d %q is not a 4xx with a detail", se.Status, se.Detail)
	}
}

func checkDelta(t *testing.T, rt *schema.ResourceType, d *MemberDelta) {
	t.Helper()
	if d == nil {
		return
	}
	if rt != schema.Group {
		t.Fatalf("a %s got a member delta", rt.Name)
	}
	if d.Clear && len(d.Remove) > 0 {
		t.Fatalf("delta clears and removes: %+v", d)
	}
	added := map[string]bool{}
	for _, m := range d.Add {
		if m.Value == "" || added[m.Value] {
			t.Fatalf("bad or duplicate member %q in %+v", m.Value, d)
		}
		added[m.Value] = true
	}
	removed := map[string]bool{}
	for _, id := range d.Remove {
		if added[id] || removed[id] {
			t.Fatalf("id %q removed twice or added and removed: %+v", id, d)
		}
		removed[id] = true
	}
}
