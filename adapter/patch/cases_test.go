package patch

import (
	"reflect"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// patchCase is one PATCH request against a fixture resource, with either the
// expected outcome or the expected error.
type patchCase struct {
	name string
	// rt defaults to schema.User.
	rt *schema.ResourceType
	// res is the resource as JSON; it defaults to sampleUser for users and
	// sampleGroup for groups.
	res  string
	body string
	// members is the current membership, read only when Apply must.
	members Members
	// want maps "/"-separated locations of the result to their JSON, or
	// to absent.
	want map[string]string
	// delta is the expected membership change.
	delta *MemberDelta
	// status and scimType, when set, are the expected error; detail lists
	// fragments the error detail must contain.
	status   int
	scimType string
	detail   []string
}

func runCases(t *testing.T, cases []patchCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt := tc.rt
			if rt == nil {
				rt = schema.User
			}
			src := tc.res
			if src == "" {
				src = sampleUser
				if rt == schema.Group {
					src = sampleGroup
				}
			}
			res := decodeJSON(t, src)
			r, err := run(t, rt, res, tc.body, tc.members)
			if tc.status != 0 {
				checkErr(t, err, tc.status, tc.scimType, tc.detail...)
				if r != nil {
					t.Errorf("got a result with the error: %s", mustJSON(r.Resource))
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			checkWant(t, r.Resource, tc.want)
			if !reflect.DeepEqual(r.Members, tc.delta) {
				t.Errorf("members = %s, want %s", mustJSON(r.Members), mustJSON(tc.delta))
			}
			checkCanonical(t, rt, r.Resource)
		})
	}
}

// checkCanonical checks that a patched resource is what schema.Normalize
// makes of it: canonical names and types, schemas recomputed. id and meta,
// which Normalize drops as read-only, are compared as they are.
func checkCanonical(t *testing.T, rt *schema.ResourceType, res map[string]any) {
	t.Helper()
	n, err := rt.Normalize(schema.CopyMap(res))
	if err != nil {
		t.Fatalf("the result is not a valid %s: %v\n%s", rt.Name, err, mustJSON(res))
	}
	for _, k := range []string{"id", "meta"} {
		if v, ok := res[k]; ok {
			n[k] = v
		}
	}
	if !reflect.DeepEqual(n, res) {
		t.Errorf("the result is not canonical:\n got  %s\n norm %s", mustJSON(res), mustJSON(n))
	}
}
