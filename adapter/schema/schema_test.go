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
			in:   `{"userName":"a","active":"False"}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","active":false}`,
		},
		{
			name: "read-only and write-only attributes are dropped",
			rt:   User,
			in:   `{"id":"x","meta":{"created":"2020-01-01T00:00:00Z"},"userName":"a","password":"secret","groups":[]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`,
		},
		{
			name: "enterprise extension with bare-string manager",
			rt:   User,
			in:   `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"Department":"Sales","manager":"m-1"}}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","manager":{"value":"m-1"}}}`,
		},
		{
			name: "manager cleared with empty string",
			rt:   User,
			in:   `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":""}}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`,
		},
		{
			name: "custom extension kept verbatim",
			rt:   User,
			in:   `{"userName":"a","urn:example:params:scim:schemas:extension:acme:1.0:User":{"badge":"42","Nested":{"X":1}}}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:example:params:scim:schemas:extension:acme:1.0:User"],"userName":"a","urn:example:params:scim:schemas:extension:acme:1.0:User":{"badge":"42","Nested":{"X":1}}}`,
		},
		{
			name: "URN-qualified attribute names at the top level",
			rt:   User,
			in:   `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Sales","urn:ietf:params:scim:schemas:core:2.0:User:title":"T"}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"a","title":"T","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales"}}`,
		},
		{
			name: "nulls and empty arrays are unassigned",
			rt:   User,
			in:   `{"userName":"a","title":null,"emails":[]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`,
		},
		{
			name: "group with members; member display is read-only",
			rt:   Group,
			in:   `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"displayName":"G","members":[{"value":"u1","display":"U"}]}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"u1"}]}`,
		},
		{
			name: "single value for a multi-valued attribute is wrapped",
			rt:   User,
			in:   `{"userName":"a","emails":{"value":"a@example.com"}}`,
			want: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","emails":[{"value":"a@example.com"}]}`,
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
		{"unknown core attribute", User, `{"userName":"a","favouriteColour":"blue"}`, scimerr.InvalidSyntax, `"favouriteColour"`},
		{"unknown sub-attribute", User, `{"userName":"a","name":{"nick":"x"}}`, scimerr.InvalidSyntax, `"nick" in name`},
		{"unknown enterprise attribute", User, `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"shoeSize":"9"}}`, scimerr.InvalidSyntax, `"shoeSize"`},
		{"boolean that is not one", User, `{"userName":"a","active":"yes"}`, scimerr.InvalidValue, "active must be of type boolean"},
		{"string given a number-less object", User, `{"userName":{"x":1}}`, scimerr.InvalidValue, "userName must be of type string"},
		{"array for a singular attribute", User, `{"userName":"a","title":["x"]}`, scimerr.InvalidValue, "title is single-valued"},
		{"two primaries", User, `{"userName":"a","emails":[{"value":"a","primary":true},{"value":"b","primary":"True"}]}`, scimerr.InvalidValue, "more than one entry with primary true"},
		{"schemas not an array", User, `{"userName":"a","schemas":"urn:x"}`, scimerr.InvalidSyntax, `"schemas"`},
		{"extension not an object", User, `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":"x"}`, scimerr.InvalidSyntax, "must be a JSON object"},
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
