package patch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

const (
	enterprise = schema.EnterpriseUserURN
	userID     = "2819c223-7f76-453a-919d-413861904646"
	groupID    = "e9e30dba-f08f-4109-8486-d5c6a331660a"
	managerID  = "26118915-6090-4610-87e4-49d8ca9f808d"
)

// sampleUser is a User in canonical form, modelled on RFC 7643 §8.2.
const sampleUser = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "id": "2819c223-7f76-453a-919d-413861904646",
  "externalId": "bjensen",
  "meta": {"resourceType": "User", "created": "2011-08-01T18:29:49.793Z", "lastModified": "2011-08-01T18:29:49.793Z", "version": "W/\"f250dd84f0671c3\""},
  "userName": "bjensen@example.com",
  "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
  "displayName": "Babs Jensen",
  "active": true,
  "emails": [
    {"value": "bjensen@example.com", "type": "work", "primary": true},
    {"value": "babs@jensen.org", "type": "home"}
  ],
  "addresses": [
    {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "region": "CA", "postalCode": "91608", "country": "USA", "primary": true}
  ],
  "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
    "employeeNumber": "701984",
    "department": "Tour Operations",
    "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d"}
  }
}`

// bareUser is a User with only what Entra ID sends on creation.
const bareUser = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "id": "2819c223-7f76-453a-919d-413861904646",
  "userName": "adele@contoso.example",
  "active": true
}`

// sampleGroup is a Group; its members live outside the map.
const sampleGroup = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
  "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
  "displayName": "Tour Guides",
  "externalId": "tour-guides",
  "meta": {"resourceType": "Group", "created": "2011-08-01T18:29:49.793Z", "lastModified": "2011-08-01T18:29:49.793Z"}
}`

// decodeJSON decodes s as the store would hand a resource to Apply.
func decodeJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decoding fixture: %v", err)
	}
	return m
}

// body wraps operations in a PatchOp message.
func body(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// run decodes a PatchOp body and applies it.
func run(t testing.TB, rt *schema.ResourceType, res map[string]any, msg string, members Members) (*Result, error) {
	t.Helper()
	req, err := Decode([]byte(msg))
	if err != nil {
		return nil, err
	}
	return Apply(context.Background(), rt, res, req.Operations, members)
}

// absent marks an expectation that a location has no value.
const absent = "<absent>"

// lookup follows a path of map keys and array indexes separated by "/".
func lookup(res map[string]any, path string) (any, bool) {
	var cur any = res
	for _, part := range strings.Split(path, "/") {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[part]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// checkWant compares each location of res with its expected JSON text.
func checkWant(t *testing.T, res map[string]any, want map[string]string) {
	t.Helper()
	for path, w := range want {
		got, ok := lookup(res, path)
		if w == absent {
			if ok {
				t.Errorf("%s = %s, want it absent", path, mustJSON(got))
			}
			continue
		}
		if !ok {
			t.Errorf("%s is absent, want %s", path, w)
			continue
		}
		var wantV any
		dec := json.NewDecoder(strings.NewReader(w))
		dec.UseNumber()
		if err := dec.Decode(&wantV); err != nil {
			t.Fatalf("bad expectation %s: %v", w, err)
		}
		if !reflect.DeepEqual(got, wantV) {
			t.Errorf("%s = %s, want %s", path, mustJSON(got), w)
		}
	}
}

func mustJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "<" + err.Error() + ">"
	}
	return strings.TrimSpace(b.String())
}

// checkErr checks that err is a SCIM error with the given status, scimType
// and a detail containing each of details.
func checkErr(t *testing.T, err error, status int, scimType string, details ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %d %s", status, scimType)
	}
	se, ok := scimerr.As(err)
	if !ok {
		t.Fatalf("error %v is not a *scimerr.Error", err)
	}
	if se.Status != status || se.ScimType != scimType {
		t.Errorf("error = %d %s (%s), want %d %s", se.Status, se.ScimType, se.Detail, status, scimType)
	}
	for _, d := range details {
		if !strings.Contains(se.Detail, d) {
			t.Errorf("detail %q does not contain %q", se.Detail, d)
		}
	}
}

// fakeMembers is a Members that counts its calls.
type fakeMembers struct {
	list  []Member
	err   error
	calls int
}

func (f *fakeMembers) List(context.Context) ([]Member, error) {
	f.calls++
	return f.list, f.err
}

// noListing is a Members that fails the test when read.
type noListing struct{ t *testing.T }

func (n noListing) List(context.Context) ([]Member, error) {
	n.t.Helper()
	n.t.Error("Members.List was called for a filter that names the ids")
	return nil, errors.New("unexpected List")
}

func jsonNumber(s string) json.Number { return json.Number(s) }
