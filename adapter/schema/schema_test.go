package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

var update = flag.Bool("update", false, "rewrite golden files")

const userSchemas = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("bad test JSON: %v", err)
	}
	return m
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		rt   *ResourceType
		in   string
		want string
	}{
		{
			name: "canonical names, any case",
			rt:   User,
			in:   `{"SCHEMAS":["urn:ietf:params:scim:schemas:core:2.0:User"],"USERNAME":"bjensen","Name":{"GivenName":"Barbara"},"Emails":[{"VALUE":"b@example.com","Type":"work","Primary":true}]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","name":{"givenName":"Barbara"},"emails":[{"value":"b@example.com","type":"work","primary":true}]}`,
		},
		{
			name: "entra string booleans",
			rt:   User,
			in:   `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","active":"False"}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","active":false}`,
		},
		{
			name: "read-only and write-only attributes are dropped",
			rt:   User,
			in:   `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"x","meta":{"created":"2020-01-01T00:00:00Z"},"userName":"a","password":"secret","groups":[]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`,
		},
		{
			name: "enterprise extension with bare-string manager",
			rt:   User,
			in:   `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"Department":"Sales","manager":"m-1"}}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","manager":{"value":"m-1"}}}`,
		},
		{
			name: "manager cleared with empty string",
			rt:   User,
			in:   `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":""}}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`,
		},
		{
			name: "manager cleared with an empty value",
			rt:   User,
			in:   `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","manager":{"value":""}}}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales"}}`,
		},
		{
			name: "custom extension kept verbatim",
			rt:   User,
			in:   `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","urn:example:params:scim:schemas:extension:acme:1.0:User":{"badge":"42","Nested":{"X":1}}}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:example:params:scim:schemas:extension:acme:1.0:User"],"userName":"a","urn:example:params:scim:schemas:extension:acme:1.0:User":{"badge":"42","Nested":{"X":1}}}`,
		},
		{
			name: "URN-qualified attribute names at the top level",
			rt:   User,
			in:   `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Sales","urn:ietf:params:scim:schemas:core:2.0:User:title":"T"}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"a","title":"T","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales"}}`,
		},
		{
			name: "nulls and empty arrays are unassigned",
			rt:   User,
			in:   `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","title":null,"emails":[]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`,
		},
		{
			name: "group with members; member display is read-only",
			rt:   Group,
			in:   `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"displayName":"G","members":[{"value":"u1","display":"U"}]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"u1"}]}`,
		},
		{
			name: "schemas compared case-insensitively, other URNs accepted",
			rt:   User,
			in:   `{"schemas":["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER","urn:example:unknown"],"userName":"a"}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`,
		},
		{
			name: "duplicate emails collapse into the first, primary if either was",
			rt:   User,
			in:   `{` + userSchemas + `,"userName":"a","emails":[{"value":"B@Example.com","type":"work"},{"value":"home@example.com","type":"home"},{"value":"b@example.com","type":"WORK","primary":true}]}`,
			want: `{` + userSchemas + `,"userName":"a","emails":[{"value":"B@Example.com","type":"work","primary":true},{"value":"home@example.com","type":"home"}]}`,
		},
		{
			name: "emails.value compares by the identifier rule",
			rt:   User,
			in:   `{` + userSchemas + `,"userName":"a","emails":[{"value":"STRASSE@example.com"},{"value":"straße@example.com"},{"value":"ｓｔｒａｓｓｅ@example.com"}]}`,
			want: `{` + userSchemas + `,"userName":"a","emails":[{"value":"STRASSE@example.com"}]}`,
		},
		{
			name: "values that differ in one sub-attribute are kept",
			rt:   User,
			in:   `{` + userSchemas + `,"userName":"a","emails":[{"value":"a@example.com","type":"work"},{"value":"a@example.com","type":"home"},{"value":"a@example.com"}]}`,
			want: `{` + userSchemas + `,"userName":"a","emails":[{"value":"a@example.com","type":"work"},{"value":"a@example.com","type":"home"},{"value":"a@example.com"}]}`,
		},
		{
			name: "duplicates of one primary value are one primary",
			rt:   User,
			in:   `{` + userSchemas + `,"userName":"a","phoneNumbers":[{"value":"+1 555 0100","primary":true},{"value":"+1 555 0100","primary":"True"}]}`,
			want: `{` + userSchemas + `,"userName":"a","phoneNumbers":[{"value":"+1 555 0100","primary":true}]}`,
		},
		{
			name: "group members are not collapsed here",
			rt:   Group,
			in:   `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"u1"},{"value":"U1"},{"value":"u1"}]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"u1"},{"value":"U1"},{"value":"u1"}]}`,
		},
		{
			name: "free-text address keeps its newlines and tabs",
			rt:   User,
			in:   `{` + userSchemas + `,"userName":"a","addresses":[{"formatted":"1 Main St\r\n\tSpringfield","type":"work"}]}`,
			want: `{` + userSchemas + `,"userName":"a","addresses":[{"formatted":"1 Main St\r\n\tSpringfield","type":"work"}]}`,
		},
		{
			name: "identifiers of exactly the cap",
			rt:   User,
			in:   `{` + userSchemas + `,"userName":"` + strings.Repeat("u", MaxIdentifierBytes) + `","externalId":"` + strings.Repeat("e", MaxIdentifierBytes) + `","emails":[{"value":"` + strings.Repeat("m", MaxIdentifierBytes) + `"}],"displayName":"` + strings.Repeat("d", 5000) + `"}`,
			want: `{` + userSchemas + `,"userName":"` + strings.Repeat("u", MaxIdentifierBytes) + `","externalId":"` + strings.Repeat("e", MaxIdentifierBytes) + `","emails":[{"value":"` + strings.Repeat("m", MaxIdentifierBytes) + `"}],"displayName":"` + strings.Repeat("d", 5000) + `"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rt.Normalize(decodeJSON(t, tt.in))
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			want := decodeJSON(t, tt.want)
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name     string
		rt       *ResourceType
		in       string
		scimType string
		detail   string
	}{
		{"unknown core attribute", User, `{` + userSchemas + `,"userName":"a","favouriteColour":"blue"}`, scimerr.InvalidSyntax, `"favouriteColour"`},
		{"unknown sub-attribute", User, `{` + userSchemas + `,"userName":"a","name":{"nick":"x"}}`, scimerr.InvalidSyntax, `"nick" in name`},
		{"unknown enterprise attribute", User, `{` + userSchemas + `,"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"shoeSize":"9"}}`, scimerr.InvalidSyntax, `"shoeSize"`},
		{"boolean that is not one", User, `{` + userSchemas + `,"userName":"a","active":"yes"}`, scimerr.InvalidValue, "active must be of type boolean"},
		{"boolean given a number", User, `{` + userSchemas + `,"userName":"a","active":1}`, scimerr.InvalidValue, "active must be of type boolean; got a number"},
		{"string given an object", User, `{` + userSchemas + `,"userName":{"x":1}}`, scimerr.InvalidValue, "userName must be of type string; got an object"},
		{"string given a number", User, `{` + userSchemas + `,"userName":123}`, scimerr.InvalidValue, "userName must be of type string; got a number"},
		{"string given a boolean", User, `{` + userSchemas + `,"userName":"a","title":true}`, scimerr.InvalidValue, "title must be of type string; got a boolean"},
		{"enterprise string given a number", User, `{` + userSchemas + `,"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":1234}}`, scimerr.InvalidValue, "employeeNumber must be of type string; got a number"},
		{"sub-attribute string given a number", User, `{` + userSchemas + `,"userName":"a","name":{"givenName":7}}`, scimerr.InvalidValue, "name.givenName must be of type string; got a number"},
		{"reference given a number", User, `{` + userSchemas + `,"userName":"a","profileUrl":5}`, scimerr.InvalidValue, "profileUrl must be of type reference; got a number"},
		{"array for a singular attribute", User, `{` + userSchemas + `,"userName":"a","title":["x"]}`, scimerr.InvalidValue, "title is single-valued"},
		{"array for a sub-attribute", User, `{` + userSchemas + `,"userName":"a","name":{"givenName":["x"]}}`, scimerr.InvalidValue, "name.givenName is single-valued"},
		{"multi-valued given a string", User, `{` + userSchemas + `,"userName":"a","emails":"a@example.com"}`, scimerr.InvalidValue, "emails is multi-valued and must be an array; got a string"},
		{"multi-valued given one object", User, `{` + userSchemas + `,"userName":"a","emails":{"value":"a@example.com"}}`, scimerr.InvalidValue, "emails is multi-valued and must be an array; got an object"},
		{"multi-valued element a bare string", User, `{` + userSchemas + `,"userName":"a","emails":["a@example.com"]}`, scimerr.InvalidValue, "emails must be of type complex (a JSON object); got a string"},
		{"multi-valued element an array", User, `{` + userSchemas + `,"userName":"a","roles":[["admin"]]}`, scimerr.InvalidValue, "each value of roles must be a JSON object; got an array"},
		{"complex given a bare string", User, `{` + userSchemas + `,"userName":"a","name":"Barbara Jensen"}`, scimerr.InvalidValue, "name must be of type complex (a JSON object); got a string"},
		{"manager given a number", User, `{` + userSchemas + `,"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":42}}`, scimerr.InvalidValue, "manager must be of type complex (a JSON object); got a number"},
		{"date given a number", User, `{` + userSchemas + `,"userName":"a","meta":{"created":5}}`, scimerr.InvalidValue, "meta.created must be of type dateTime; got a number"},
		{"two primaries", User, `{` + userSchemas + `,"userName":"a","emails":[{"value":"a","primary":true},{"value":"b","primary":"True"}]}`, scimerr.InvalidValue, "more than one entry with primary true"},
		{"two primaries after duplicates collapse", User, `{` + userSchemas + `,"userName":"a","emails":[{"value":"a"},{"value":"b","primary":true},{"value":"A","primary":true}]}`, scimerr.InvalidValue, "more than one entry with primary true"},
		{"schemas missing", User, `{"userName":"a"}`, scimerr.InvalidSyntax, `"schemas" is required`},
		{"schemas not an array", User, `{"userName":"a","schemas":"urn:ietf:params:scim:schemas:core:2.0:User"}`, scimerr.InvalidSyntax, `"schemas" must be an array`},
		{"schemas null", User, `{"userName":"a","schemas":null}`, scimerr.InvalidSyntax, `"schemas" must be an array`},
		{"schemas holding a number", User, `{"userName":"a","schemas":["urn:ietf:params:scim:schemas:core:2.0:User",5]}`, scimerr.InvalidSyntax, "it holds a number"},
		{"schemas empty", User, `{"userName":"a","schemas":[]}`, scimerr.InvalidSyntax, `"schemas" must hold "urn:ietf:params:scim:schemas:core:2.0:User"`},
		{"schemas without the core schema", User, `{"userName":"a","schemas":["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]}`, scimerr.InvalidSyntax, "the core schema of User"},
		{"schemas of another resource type", Group, `{"displayName":"G","schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`, scimerr.InvalidSyntax, "the core schema of Group"},
		{"extension not an object", User, `{` + userSchemas + `,"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":"x"}`, scimerr.InvalidSyntax, "must be a JSON object"},
		{"tab in userName", User, `{` + userSchemas + `,"userName":"a\tb"}`, scimerr.InvalidValue, "userName contains the control character U+0009"},
		{"newline in title", User, `{` + userSchemas + `,"userName":"a","title":"CEO\n"}`, scimerr.InvalidValue, "title contains the control character U+000A"},
		{"carriage return in a sub-attribute", User, `{` + userSchemas + `,"userName":"a","name":{"givenName":"B\rX"}}`, scimerr.InvalidValue, "name.givenName contains the control character U+000D"},
		{"newline in an address other than formatted", User, `{` + userSchemas + `,"userName":"a","addresses":[{"streetAddress":"1 Main\nSt"}]}`, scimerr.InvalidValue, "addresses.streetAddress contains the control character U+000A"},
		{"newline in emails.value", User, `{` + userSchemas + `,"userName":"a","emails":[{"value":"a@example.com\n"}]}`, scimerr.InvalidValue, "emails.value contains the control character U+000A"},
		{"NUL in an enterprise attribute", User, `{` + userSchemas + `,"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"x\u0000"}}`, scimerr.InvalidValue, "department contains the control character U+0000"},
		{"DEL in a reference", User, `{` + userSchemas + `,"userName":"a","profileUrl":"https://example.com/\u007f"}`, scimerr.InvalidValue, "profileUrl contains the control character U+007F"},
		{"newline in base64", User, `{` + userSchemas + `,"userName":"a","x509Certificates":[{"value":"AAAA\nAAAA"}]}`, scimerr.InvalidValue, "x509Certificates.value contains the control character U+000A"},
		{"newline in a bare-string manager", User, `{` + userSchemas + `,"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"m\n"}}`, scimerr.InvalidValue, "manager.value contains the control character U+000A"},
		{"userName over the cap", User, `{` + userSchemas + `,"userName":"` + strings.Repeat("u", MaxIdentifierBytes+1) + `"}`, scimerr.InvalidValue, "userName is 1025 bytes long; at most 1024"},
		{"externalId over the cap", User, `{` + userSchemas + `,"userName":"a","externalId":"` + strings.Repeat("e", MaxIdentifierBytes+1) + `"}`, scimerr.InvalidValue, "externalId is 1025 bytes long"},
		{"emails.value over the cap", User, `{` + userSchemas + `,"userName":"a","emails":[{"value":"` + strings.Repeat("é", 513) + `"}]}`, scimerr.InvalidValue, "emails.value is 1026 bytes long"},
		{"group displayName over the cap", Group, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"` + strings.Repeat("g", MaxIdentifierBytes+1) + `"}`, scimerr.InvalidValue, "displayName is 1025 bytes long"},
		{"group externalId over the cap", Group, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","externalId":"` + strings.Repeat("e", MaxIdentifierBytes+1) + `"}`, scimerr.InvalidValue, "externalId is 1025 bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.rt.Normalize(decodeJSON(t, tt.in))
			e, ok := scimerr.As(err)
			if !ok {
				t.Fatalf("want a SCIM error, got %v", err)
			}
			if e.Status != http.StatusBadRequest || e.ScimType != tt.scimType {
				t.Errorf("got %d %s, want 400 %s", e.Status, e.ScimType, tt.scimType)
			}
			if !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("detail %q does not contain %q", e.Detail, tt.detail)
			}
		})
	}
}

func TestCheckRequired(t *testing.T) {
	if err := User.CheckRequired(map[string]any{"userName": "a"}); err != nil {
		t.Errorf("userName present: %v", err)
	}
	for _, res := range []map[string]any{{}, {"userName": ""}, {"displayName": "x"}} {
		err := User.CheckRequired(res)
		if e, ok := scimerr.As(err); !ok || e.ScimType != scimerr.InvalidValue || !strings.Contains(e.Detail, "userName is required") {
			t.Errorf("CheckRequired(%v) = %v, want invalidValue naming userName", res, err)
		}
	}
	if err := Group.CheckRequired(map[string]any{"displayName": "g"}); err != nil {
		t.Errorf("group: %v", err)
	}
}

func TestLookupIsCaseInsensitive(t *testing.T) {
	if a := User.Attr("", "USERNAME"); a == nil || a.Name != "userName" {
		t.Errorf("Attr(USERNAME) = %v", a)
	}
	if a := User.Attr("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER", "Manager").Sub("VALUE"); a == nil || a.Name != "value" {
		t.Errorf("manager.value lookup = %v", a)
	}
	if a := User.Attr("", "ExternalID"); a == nil || !a.CaseExact {
		t.Errorf("externalId must be found among common attributes and be caseExact: %v", a)
	}
	urn, rest := User.SplitURN("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber")
	if urn != EnterpriseUserURN || rest != "employeeNumber" {
		t.Errorf("SplitURN = %q, %q", urn, rest)
	}
	if ByEndpoint("users") != User || ByEndpoint("/Groups") != Group || ByEndpoint("Nope") != nil {
		t.Error("ByEndpoint")
	}
}

// TestDiscoveryGolden pins the discovery documents, which are generated from
// the attribute definitions. Refresh with -update after a deliberate change.
func TestDiscoveryGolden(t *testing.T) {
	const base = "https://scim.example.com/scim/v2/acme"
	var schemas []SchemaDoc
	for _, s := range Schemas() {
		schemas = append(schemas, s.Document(base))
	}
	var rts []ResourceTypeDoc
	for _, rt := range ResourceTypes() {
		rts = append(rts, rt.Document(base))
	}
	spc := NewServiceProviderConfig(Capabilities{MaxResults: 1000, ETag: true}, base)
	for name, doc := range map[string]any{"schemas": schemas, "resource_types": rts, "service_provider_config": spc} {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(doc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file; run with -update if the change is intended\n%s", name, got)
			}
		})
	}
}

// TestSchemaDocumentCharacteristics checks the characteristics RFC 7643 §7
// requires on every attribute, so the golden file cannot pin a wrong shape.
func TestSchemaDocumentCharacteristics(t *testing.T) {
	b, _ := json.Marshal(UserSchema.Document(""))
	var doc struct {
		Attributes []map[string]any `json:"attributes"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var check func(prefix string, attrs []map[string]any)
	check = func(prefix string, attrs []map[string]any) {
		for _, a := range attrs {
			name := prefix + a["name"].(string)
			for _, k := range []string{"type", "multiValued", "description", "required", "mutability", "returned"} {
				if _, ok := a[k]; !ok {
					t.Errorf("%s lacks %s", name, k)
				}
			}
			if a["type"] == "string" {
				if _, ok := a["caseExact"]; !ok {
					t.Errorf("%s lacks caseExact", name)
				}
			}
			if subs, ok := a["subAttributes"].([]any); ok {
				var sm []map[string]any
				for _, s := range subs {
					sm = append(sm, s.(map[string]any))
				}
				check(name+".", sm)
			}
		}
	}
	check("", doc.Attributes)
	un := doc.Attributes[0]
	if un["name"] != "userName" || un["uniqueness"] != "server" || un["caseExact"] != false || un["required"] != true {
		t.Errorf("userName characteristics: %v", un)
	}
}

// TestReferenceTypes walks every attribute this server describes and checks
// that each reference attribute carries the referenceTypes RFC 7643 §8.7.1
// gives it (RFC 7643 §7: referenceTypes is required for reference
// attributes). A strict client library's discovery fails without them.
func TestReferenceTypes(t *testing.T) {
	want := map[string][]string{
		"meta.location":               {"uri"},
		"User.profileUrl":             {"external"},
		"User.photos.value":           {"external"},
		"User.groups.$ref":            {"User", "Group"},
		"EnterpriseUser.manager.$ref": {"User"},
		"Group.members.$ref":          {"User", "Group"},
	}
	got := map[string][]string{}
	var walk func(prefix string, attrs []*Attribute)
	walk = func(prefix string, attrs []*Attribute) {
		for _, a := range attrs {
			name := prefix + a.Name
			if a.Type == Reference {
				got[name] = a.ReferenceTypes
				if len(a.ReferenceTypes) == 0 {
					t.Errorf("%s is a reference without referenceTypes", name)
				}
			} else if len(a.ReferenceTypes) > 0 {
				t.Errorf("%s is of type %s and has referenceTypes", name, a.Type)
			}
			walk(name+".", a.SubAttributes)
		}
	}
	walk("", CommonAttributes())
	for _, s := range Schemas() {
		walk(s.Name+".", s.Attributes)
	}
	for name, types := range want {
		if !reflect.DeepEqual(got[name], types) {
			t.Errorf("%s referenceTypes = %v, want %v (RFC 7643 §8.7.1)", name, got[name], types)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is a reference attribute this test does not know; add its RFC 7643 referenceTypes", name)
		}
	}
}

func TestNormalizeValueNumbers(t *testing.T) {
	integer := &Attribute{Name: "count", Type: Integer}
	decimal := &Attribute{Name: "ratio", Type: Decimal}
	tests := []struct {
		name   string
		a      *Attribute
		in     any
		want   any
		detail string
	}{
		{"integer", integer, json.Number("42"), json.Number("42"), ""},
		{"integer written with a zero fraction", integer, json.Number("42.0"), json.Number("42"), ""},
		{"integer given a numeric string", integer, "42", nil, "count must be of type integer; got a string"},
		{"integer with a fraction", integer, json.Number("4.5"), nil, "count must be of type integer; got a number with a fraction"},
		{"integer given a boolean", integer, true, nil, "count must be of type integer; got a boolean"},
		{"decimal", decimal, json.Number("0.5"), json.Number("0.5"), ""},
		{"decimal given a numeric string", decimal, " 0.5", nil, "ratio must be of type decimal; got a string"},
		{"decimal given an object", decimal, map[string]any{}, nil, "ratio must be of type decimal; got an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeValue(tt.a, tt.in, tt.a.Name)
			if tt.detail == "" {
				if err != nil || got != tt.want {
					t.Fatalf("NormalizeValue = %v, %v; want %v", got, err, tt.want)
				}
				return
			}
			e, ok := scimerr.As(err)
			if !ok || e.Status != http.StatusBadRequest || e.ScimType != scimerr.InvalidValue || !strings.Contains(e.Detail, tt.detail) {
				t.Fatalf("NormalizeValue = %v, %v; want 400 invalidValue with %q", got, err, tt.detail)
			}
		})
	}
}

func TestCollapseDuplicates(t *testing.T) {
	emails := User.Attr("", "emails")
	tests := []struct {
		name string
		a    *Attribute
		in   string
		want string
	}{
		{"no duplicates", emails, `[{"value":"a@example.com"},{"value":"b@example.com"}]`, `[{"value":"a@example.com"},{"value":"b@example.com"}]`},
		{"case and width of the value", emails, `[{"value":"Ａ@example.com","type":"work"},{"value":"a@EXAMPLE.com","type":"Work"}]`, `[{"value":"Ａ@example.com","type":"work"}]`},
		{"primary ignored, kept on the first", emails, `[{"value":"a"},{"value":"b"},{"value":"a","primary":true}]`, `[{"value":"a","primary":true},{"value":"b"}]`},
		{"primary false on the first becomes true", emails, `[{"value":"a","primary":false},{"value":"a","primary":true}]`, `[{"value":"a","primary":true}]`},
		{"a sub-attribute only one carries", emails, `[{"value":"a"},{"value":"a","display":"A"}]`, `[{"value":"a"},{"value":"a","display":"A"}]`},
		{"caseExact values compare exactly", User.Attr("", "x509Certificates"), `[{"value":"QUJD"},{"value":"qujd"},{"value":"QUJD"}]`, `[{"value":"QUJD"},{"value":"qujd"}]`},
		{"members are left alone", Group.Attr("", "members"), `[{"value":"u1"},{"value":"u1"}]`, `[{"value":"u1"},{"value":"u1"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := decodeJSON(t, `{"v":`+tt.in+`}`)["v"].([]any)
			want := decodeJSON(t, `{"v":`+tt.want+`}`)["v"].([]any)
			if got := CollapseDuplicates(tt.a, in); !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Errorf("got %s, want %s", g, tt.want)
			}
		})
	}
}
