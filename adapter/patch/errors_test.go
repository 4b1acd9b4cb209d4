package patch

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// TestDecode checks what Decode accepts and the error it gives otherwise.
func TestDecode(t *testing.T) {
	longPath := strings.Repeat("a", MaxPathLength+1)
	tooMany := make([]string, MaxOperations+1)
	for i := range tooMany {
		tooMany[i] = `{"op":"add","path":"nickName","value":"x"}`
	}
	tests := []struct {
		name     string
		body     string
		scimType string
		detail   string
		want     []Operation
	}{
		{name: "valid", body: body(`{"op":"add","path":"nickName","value":"Babs"}`), want: []Operation{{Op: "add", Path: "nickName", Value: "Babs"}}},
		{name: "entra-capitalised-ops", body: body(`{"op":"Add","path":"a","value":1}`, `{"op":"Replace","path":"b","value":"c"}`, `{"op":"Remove","path":"d"}`),
			want: []Operation{{Op: "add", Path: "a", Value: jsonNumber("1")}, {Op: "replace", Path: "b", Value: "c"}, {Op: "remove", Path: "d"}}},
		{name: "schemas-missing-is-accepted", body: `{"Operations":[{"op":"remove","path":"nickName"}]}`, want: []Operation{{Op: "remove", Path: "nickName"}}},
		{name: "member-names-in-any-case", body: `{"operations":[{"OP":"REPLACE","Path":"nickName","Value":"x"}]}`, want: []Operation{{Op: "replace", Path: "nickName", Value: "x"}}},
		{name: "null-path-is-no-path", body: body(`{"op":"add","path":null,"value":{"nickName":"x"}}`), want: []Operation{{Op: "add", Value: map[string]any{"nickName": "x"}}}},
		{name: "explicit-null-value", body: body(`{"op":"replace","path":"nickName","value":null}`), want: []Operation{{Op: "replace", Path: "nickName"}}},
		{name: "not-json", body: `{"Operations":[`, scimType: scimerr.InvalidSyntax, detail: "not valid JSON"},
		{name: "bad-token", body: `{"Operations":[}`, scimType: scimerr.InvalidSyntax, detail: "not valid JSON"},
		{name: "empty-body", body: ``, scimType: scimerr.InvalidSyntax, detail: "not valid JSON"},
		{name: "trailing-data", body: body(`{"op":"remove","path":"a"}`) + `{}`, scimType: scimerr.InvalidSyntax, detail: "data after"},
		{name: "array-body", body: `[{"op":"add"}]`, scimType: scimerr.InvalidSyntax, detail: "got an array"},
		{name: "wrong-schemas", body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"remove","path":"a"}]}`, scimType: scimerr.InvalidSyntax, detail: "PatchOp"},
		{name: "schemas-not-array", body: `{"schemas":"urn:ietf:params:scim:api:messages:2.0:PatchOp","Operations":[{"op":"remove","path":"a"}]}`, scimType: scimerr.InvalidSyntax},
		{name: "operations-missing", body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`, scimType: scimerr.InvalidSyntax, detail: "Operations"},
		{name: "operations-empty", body: body(), scimType: scimerr.InvalidSyntax, detail: "empty"},
		{name: "operations-object", body: `{"Operations":{"op":"add"}}`, scimType: scimerr.InvalidSyntax, detail: "array"},
		{name: "operation-not-object", body: body(`"add"`), scimType: scimerr.InvalidSyntax, detail: "operation 1"},
		{name: "op-missing", body: body(`{"path":"a","value":1}`), scimType: scimerr.InvalidSyntax, detail: `no "op"`},
		{name: "op-not-string", body: body(`{"op":1,"path":"a","value":1}`), scimType: scimerr.InvalidSyntax},
		{name: "op-unknown", body: body(`{"op":"add","path":"a","value":1}`, `{"op":"copy","path":"a"}`), scimType: scimerr.InvalidValue, detail: `operation 2: unknown op "copy"`},
		{name: "add-without-value", body: body(`{"op":"add","path":"nickName"}`), scimType: scimerr.InvalidValue, detail: "needs a \"value\""},
		{name: "replace-without-value", body: body(`{"op":"Replace","path":"nickName"}`), scimType: scimerr.InvalidValue},
		{name: "remove-without-path", body: body(`{"op":"remove"}`), scimType: scimerr.NoTarget, detail: "needs a path"},
		{name: "remove-with-empty-path", body: body(`{"op":"remove","path":"  "}`), scimType: scimerr.NoTarget},
		{name: "path-not-string", body: body(`{"op":"remove","path":["a"]}`), scimType: scimerr.InvalidSyntax, detail: `"path" must be a string`},
		{name: "path-too-long", body: body(`{"op":"remove","path":"` + longPath + `"}`), scimType: scimerr.InvalidPath, detail: "1025 bytes"},
		{name: "too-many-operations", body: body(tooMany...), scimType: scimerr.TooMany, detail: "1001 operations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Decode([]byte(tc.body))
			if tc.scimType != "" {
				checkErr(t, err, http.StatusBadRequest, tc.scimType, tc.detail)
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if mustJSON(req.Operations) != mustJSON(tc.want) {
				t.Errorf("operations = %s, want %s", mustJSON(req.Operations), mustJSON(tc.want))
			}
		})
	}
}

// badgeType is a resource type with an immutable attribute, which the core
// schemas only have inside members.
var badgeType = &schema.ResourceType{
	ID: "Badge", Name: "Badge", Endpoint: "/Badges",
	Schema: &schema.Schema{ID: "urn:example:scim:schemas:Badge", Name: "Badge", Attributes: []*schema.Attribute{
		{Name: "label", Type: schema.String, Required: true},
		{Name: "serial", Type: schema.String, Mutability: schema.Immutable},
		{Name: "issuer", Type: schema.Complex, SubAttributes: []*schema.Attribute{
			{Name: "name", Type: schema.String},
			{Name: "code", Type: schema.String, Mutability: schema.Immutable},
		}},
	}},
}

// TestMutability checks RFC 7644 §3.5.2 and RFC 7643 §7: read-only
// attributes cannot be changed, immutable ones only set once, required ones
// not removed, and a password is accepted but never stored.
func TestMutability(t *testing.T) {
	const mutability = scimerr.Mutability
	const bad = http.StatusBadRequest
	runCases(t, []patchCase{
		{name: "replace-id", body: body(`{"op":"replace","path":"id","value":"other"}`), status: bad, scimType: mutability, detail: []string{`operation 1 (replace "id")`, "read-only"}},
		{name: "replace-id-same-value-with-path", body: body(`{"op":"replace","path":"id","value":"` + userID + `"}`), status: bad, scimType: mutability},
		{name: "remove-id", body: body(`{"op":"remove","path":"id"}`), status: bad, scimType: mutability},
		{name: "replace-meta", body: body(`{"op":"replace","path":"meta","value":{"version":"W/\"1\""}}`), status: bad, scimType: mutability},
		{name: "replace-meta-sub-attribute", body: body(`{"op":"replace","path":"meta.lastModified","value":"2030-01-01T00:00:00Z"}`), status: bad, scimType: mutability, detail: []string{"meta.lastModified"}},
		{name: "remove-meta", body: body(`{"op":"remove","path":"meta"}`), status: bad, scimType: mutability},
		{name: "add-groups", body: body(`{"op":"add","path":"groups","value":[{"value":"g1"}]}`), status: bad, scimType: mutability, detail: []string{"groups"}},
		{name: "remove-groups-filter", body: body(`{"op":"remove","path":"groups[value eq \"g1\"]"}`), status: bad, scimType: mutability},
		{name: "pathless-groups", body: body(`{"op":"replace","value":{"groups":[]}}`), status: bad, scimType: mutability},
		{name: "pathless-meta", body: body(`{"op":"replace","value":{"meta":{"version":"x"}}}`), status: bad, scimType: mutability},
		{name: "pathless-id-without-resource-id", res: `{"userName":"u"}`, body: body(`{"op":"replace","value":{"id":"x"}}`), status: bad, scimType: mutability},
		{name: "pathless-schemas-without-core", body: body(`{"op":"add","value":{"schemas":["urn:bogus"],"nickName":"Babs"}}`), status: bad, scimType: "invalidValue", detail: []string{"must hold"}},
		{name: "path-schemas-not-array", body: body(`{"op":"replace","path":"schemas","value":"urn:ietf:params:scim:schemas:core:2.0:User"}`), status: bad, scimType: "invalidValue", detail: []string{"must be an array"}},
		{name: "pathless-id-same-and-schemas-recomputed", body: body(`{"op":"add","value":{"id":"` + userID + `","schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"nickName":"Babs"}}`),
			want: map[string]string{"id": `"` + userID + `"`, "nickName": `"Babs"`, "schemas": `["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]`}},
		{name: "member-display", rt: schema.Group, body: body(`{"op":"replace","path":"members[value eq \"a\"].display","value":"A"}`), status: bad, scimType: mutability, detail: []string{"members.display"}},
		{name: "member-value-sub-attribute", rt: schema.Group, body: body(`{"op":"replace","path":"members[value eq \"a\"].value","value":"b"}`), status: bad, scimType: mutability},
		{name: "manager-displayName", body: body(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName","value":"Boss"}`), status: bad, scimType: mutability},
		{name: "remove-userName", body: body(`{"op":"remove","path":"userName"}`), status: bad, scimType: mutability, detail: []string{"userName is required"}},
		{name: "replace-userName-empty", body: body(`{"op":"replace","path":"userName","value":""}`), status: bad, scimType: mutability, detail: []string{"userName is required"}},
		{name: "replace-userName-null", body: body(`{"op":"replace","path":"userName","value":null}`), status: bad, scimType: mutability},
		{name: "remove-group-displayName", rt: schema.Group, body: body(`{"op":"remove","path":"displayName"}`), status: bad, scimType: mutability, detail: []string{"displayName is required for Group"}},
		{name: "resource-without-userName", res: `{"id":"x","nickName":"n"}`, body: body(`{"op":"replace","path":"nickName","value":"m"}`), status: bad, scimType: scimerr.InvalidValue, detail: []string{"userName is required"}},
		{name: "userName-set-on-resource-without-one", res: `{"id":"x"}`, body: body(`{"op":"add","path":"userName","value":"u"}`), want: map[string]string{"userName": `"u"`}},
		{name: "password-replace-not-stored", body: body(`{"op":"replace","path":"password","value":"t1meMa$heen"}`), want: map[string]string{"password": absent}},
		{name: "password-pathless-not-stored", body: body(`{"op":"replace","value":{"password":"t1meMa$heen","nickName":"B"}}`), want: map[string]string{"password": absent, "nickName": `"B"`}},
		{name: "password-remove", body: body(`{"op":"remove","path":"password"}`), want: map[string]string{"password": absent}},
		{name: "password-wrong-type", body: body(`{"op":"replace","path":"password","value":{"a":1}}`), status: bad, scimType: scimerr.InvalidValue},
		{name: "immutable-set-when-unassigned", rt: badgeType, res: `{"id":"b","label":"L"}`, body: body(`{"op":"add","path":"serial","value":"S1"}`), want: map[string]string{"serial": `"S1"`}},
		{name: "immutable-same-value", rt: badgeType, res: `{"id":"b","label":"L","serial":"S1"}`, body: body(`{"op":"replace","path":"serial","value":"S1"}`), want: map[string]string{"serial": `"S1"`}},
		{name: "immutable-changed", rt: badgeType, res: `{"id":"b","label":"L","serial":"S1"}`, body: body(`{"op":"replace","path":"serial","value":"S2"}`), status: bad, scimType: mutability, detail: []string{"serial is immutable"}},
		{name: "immutable-removed", rt: badgeType, res: `{"id":"b","label":"L","serial":"S1"}`, body: body(`{"op":"remove","path":"serial"}`), status: bad, scimType: mutability},
		{name: "immutable-sub-attribute-set-once", rt: badgeType, res: `{"id":"b","label":"L","issuer":{"name":"N"}}`, body: body(`{"op":"add","path":"issuer","value":{"code":"C"}}`), want: map[string]string{"issuer": `{"name":"N","code":"C"}`}},
		{name: "immutable-sub-attribute-changed", rt: badgeType, res: `{"id":"b","label":"L","issuer":{"code":"C"}}`, body: body(`{"op":"replace","path":"issuer.code","value":"D"}`), status: bad, scimType: mutability, detail: []string{"issuer.code"}},
		{name: "required-on-other-type", rt: badgeType, res: `{"id":"b","label":"L"}`, body: body(`{"op":"remove","path":"label"}`), status: bad, scimType: mutability},
	})
}

// TestInvalidRequests checks the errors for paths and values Apply cannot
// use.
func TestInvalidRequests(t *testing.T) {
	const bad = http.StatusBadRequest
	runCases(t, []patchCase{
		{name: "unknown-attribute-path", body: body(`{"op":"replace","path":"favoriteColor","value":"blue"}`), status: bad, scimType: scimerr.InvalidPath, detail: []string{`unknown attribute "favoriteColor" for User`}},
		{name: "unknown-attribute-pathless", body: body(`{"op":"replace","value":{"favoriteColor":"blue"}}`), status: bad, scimType: scimerr.InvalidSyntax, detail: []string{"favoriteColor"}},
		{name: "unknown-sub-attribute", body: body(`{"op":"replace","path":"name.nickname","value":"x"}`), status: bad, scimType: scimerr.InvalidPath, detail: []string{"nickname"}},
		{name: "unknown-enterprise-attribute", body: body(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:shoeSize","value":"9"}`), status: bad, scimType: scimerr.InvalidPath, detail: []string{"shoeSize"}},
		{name: "unknown-key-in-enterprise-object", body: body(`{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"shoeSize":"9"}}}`), status: bad, scimType: scimerr.InvalidSyntax, detail: []string{"shoeSize"}},
		{name: "members-on-user", body: body(`{"op":"add","path":"members","value":[{"value":"a"}]}`), status: bad, scimType: scimerr.InvalidPath},
		{name: "malformed-path", body: body(`{"op":"replace","path":"emails[type eq","value":"x"}`), status: bad, scimType: scimerr.InvalidPath, detail: []string{"operation 1"}},
		{name: "filter-on-single-valued", body: body(`{"op":"replace","path":"name[givenName eq \"x\"]","value":{}}`), status: bad, scimType: scimerr.InvalidPath, detail: []string{"single-valued"}},
		{name: "sub-attribute-of-simple", body: body(`{"op":"replace","path":"userName.first","value":"x"}`), status: bad, scimType: scimerr.InvalidPath},
		{name: "unknown-core-urn", body: body(`{"op":"add","path":"urn:ietf:params:scim:schemas:core:2.0:Group:displayName","value":"x"}`), status: bad, scimType: scimerr.InvalidPath},
		{name: "filter-into-custom-extension", body: body(`{"op":"add","path":"urn:example:ext:User:tags[value eq \"a\"]","value":"x"}`), status: bad, scimType: scimerr.InvalidPath},
		{name: "boolean-not-a-boolean", body: body(`{"op":"replace","path":"active","value":"maybe"}`), status: bad, scimType: scimerr.InvalidValue, detail: []string{"active"}},
		{name: "complex-given-string", body: body(`{"op":"replace","path":"name","value":"Babs"}`), status: bad, scimType: scimerr.InvalidValue},
		{name: "string-given-object", body: body(`{"op":"replace","path":"nickName","value":{"a":"b"}}`), status: bad, scimType: scimerr.InvalidValue},
		{name: "single-valued-given-array", body: body(`{"op":"replace","path":"nickName","value":["a"]}`), status: bad, scimType: scimerr.InvalidValue},
		{name: "email-value-object", body: body(`{"op":"add","path":"emails","value":[{"value":{"x":1}}]}`), status: bad, scimType: scimerr.InvalidValue},
		{name: "unknown-email-sub-attribute-in-value", body: body(`{"op":"add","path":"emails","value":[{"value":"a@b","kind":"x"}]}`), status: bad, scimType: scimerr.InvalidSyntax},
		{name: "two-primaries-in-one-add", body: body(`{"op":"add","path":"emails","value":[{"value":"a@b","primary":true},{"value":"c@d","primary":true}]}`), status: bad, scimType: scimerr.InvalidValue, detail: []string{"primary"}},
		{name: "filtered-primary-on-two-values", body: body(`{"op":"replace","path":"emails[value co \"@\"].primary","value":true}`), status: bad, scimType: scimerr.InvalidValue, detail: []string{"more than one"}},
		{name: "pathless-value-not-object", body: body(`{"op":"add","value":"Babs"}`), status: bad, scimType: scimerr.InvalidValue, detail: []string{"without a path"}},
		{name: "extension-value-not-object", body: body(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":"x"}`), status: bad, scimType: scimerr.InvalidValue},
		{name: "filtered-value-not-object", body: body(`{"op":"replace","path":"emails[type eq \"work\"]","value":"a@b"}`), status: bad, scimType: scimerr.InvalidValue},
		{name: "member-value-number", rt: schema.Group, body: body(`{"op":"add","path":"members","value":[{"value":42}]}`), status: bad, scimType: scimerr.InvalidValue, detail: []string{"non-empty string"}},
		{name: "member-value-empty", rt: schema.Group, body: body(`{"op":"add","path":"members","value":[{"value":""}]}`), status: bad, scimType: scimerr.InvalidValue},
		{name: "member-value-missing", rt: schema.Group, body: body(`{"op":"add","path":"members","value":[{"display":"Babs"}]}`), status: bad, scimType: scimerr.InvalidValue},
		{name: "member-not-object", rt: schema.Group, body: body(`{"op":"add","path":"members","value":[true]}`), status: bad, scimType: scimerr.InvalidValue},
		{name: "member-type-unknown", rt: schema.Group, body: body(`{"op":"add","path":"members","value":[{"value":"a","type":"Robot"}]}`), status: bad, scimType: scimerr.InvalidValue, detail: []string{"Robot"}},
		{name: "member-remove-value-bad", rt: schema.Group, body: body(`{"op":"remove","path":"members","value":[{"value":null}]}`), status: bad, scimType: scimerr.InvalidValue},
		{name: "error-names-failing-operation", body: body(`{"op":"add","path":"nickName","value":"ok"}`, `{"op":"replace","path":"emails[type eq \"pager\" and value co \"x\"].value","value":"x"}`), status: bad, scimType: scimerr.NoTarget, detail: []string{`operation 2 (replace "emails[type eq \"pager\" and value co \"x\"].value")`}},
	})
}

// TestNoTarget checks where RFC 7644 §3.5.2 answers noTarget, and where it
// succeeds without a match.
func TestNoTarget(t *testing.T) {
	const bad = http.StatusBadRequest
	runCases(t, []patchCase{
		{name: "apply-remove-without-path", body: body(`{"op":"remove","path":"nickName"}`), want: map[string]string{"nickName": absent}},
		{name: "replace-non-equality-filter", body: body(`{"op":"replace","path":"emails[value sw \"zz\"]","value":{"value":"a@b"}}`), status: bad, scimType: scimerr.NoTarget},
		{name: "add-non-equality-filter", body: body(`{"op":"add","path":"emails[value sw \"zz\"].display","value":"x"}`), status: bad, scimType: scimerr.NoTarget},
		{name: "replace-or-filter", body: body(`{"op":"replace","path":"emails[type eq \"pager\" or type eq \"fax\"].value","value":"x"}`), status: bad, scimType: scimerr.NoTarget},
		{name: "replace-member-filter-without-match", rt: schema.Group, members: &fakeMembers{list: []Member{{Value: "u1", Type: "User"}}},
			body: body(`{"op":"replace","path":"members[type eq \"Group\"]","value":[{"value":"g9","type":"Group"}]}`), status: bad, scimType: scimerr.NoTarget, detail: []string{"no member matches"}},
		{name: "remove-filter-without-match-succeeds", body: body(`{"op":"remove","path":"emails[type eq \"pager\"]"}`), want: map[string]string{"emails/1/value": `"babs@jensen.org"`}},
		{name: "remove-member-filter-without-match-succeeds", rt: schema.Group, members: &fakeMembers{}, body: body(`{"op":"remove","path":"members[type eq \"Group\"]"}`), delta: &MemberDelta{}},
		{name: "replace-equality-filter-creates", res: bareUser, body: body(`{"op":"replace","path":"phoneNumbers[type eq \"fax\"].value","value":"555"}`), want: map[string]string{"phoneNumbers": `[{"type":"fax","value":"555"}]`}},
		{name: "replace-equality-filter-null-value-is-no-op", res: bareUser, body: body(`{"op":"replace","path":"phoneNumbers[type eq \"fax\"].value","value":null}`), want: map[string]string{"phoneNumbers": absent}},
	})
	t.Run("apply-remove-with-empty-path", func(t *testing.T) {
		_, err := Apply(context.Background(), schema.User, decodeJSON(t, sampleUser), []Operation{{Op: "Remove"}}, nil)
		checkErr(t, err, bad, scimerr.NoTarget, "operation 1 (remove)")
	})
	t.Run("apply-too-many-operations", func(t *testing.T) {
		ops := make([]Operation, MaxOperations+1)
		for i := range ops {
			ops[i] = Operation{Op: "remove", Path: "nickName"}
		}
		_, err := Apply(context.Background(), schema.User, decodeJSON(t, sampleUser), ops, nil)
		checkErr(t, err, bad, scimerr.TooMany)
	})
	t.Run("apply-unknown-op", func(t *testing.T) {
		_, err := Apply(context.Background(), schema.User, decodeJSON(t, sampleUser), []Operation{{Op: "move", Path: "nickName"}}, nil)
		checkErr(t, err, bad, scimerr.InvalidValue, `operation 1 (move "nickName")`)
	})
	t.Run("apply-path-too-long", func(t *testing.T) {
		_, err := Apply(context.Background(), schema.User, decodeJSON(t, sampleUser), []Operation{{Op: "remove", Path: strings.Repeat("x", MaxPathLength+1)}}, nil)
		checkErr(t, err, bad, scimerr.InvalidPath, "…")
	})
}
