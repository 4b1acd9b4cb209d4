package patch

import (
	"net/http"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// TestIdPDialects runs the PATCH shapes of IDP-DIALECTS.md, one case per
// identity provider and shape.
func TestIdPDialects(t *testing.T) {
	runCases(t, []patchCase{
		// Entra ID, default dialect.
		{
			name: "entra/capitalised-ops",
			body: body(`{"op":"Replace","path":"displayName","value":"Barbara J"}`, `{"op":"Add","path":"title","value":"Guide"}`, `{"op":"Remove","path":"nickName"}`),
			want: map[string]string{"displayName": `"Barbara J"`, "title": `"Guide"`},
		},
		{
			name: "entra/replace-active-string-false",
			body: body(`{"op":"Replace","path":"active","value":"False"}`),
			want: map[string]string{"active": `false`},
		},
		{
			name: "entra/replace-active-string-true",
			res:  `{"id":"x","userName":"u","active":false}`,
			body: body(`{"op":"Replace","path":"active","value":"True"}`),
			want: map[string]string{"active": `true`},
		},
		{
			name: "entra/replace-work-email-value",
			body: body(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"barbara@example.com"}`),
			want: map[string]string{
				"emails": `[{"value":"barbara@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}]`,
			},
		},
		{
			name: "entra/replace-work-email-value-without-work-email",
			res:  bareUser,
			body: body(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"adele@contoso.example"}`),
			want: map[string]string{"emails": `[{"type":"work","value":"adele@contoso.example"}]`},
		},
		{
			name: "entra/add-work-email-value",
			res:  bareUser,
			body: body(`{"op":"Add","path":"emails[type eq \"work\"].value","value":"adele@contoso.example"}`, `{"op":"Add","path":"emails[type eq \"work\"].primary","value":"True"}`),
			want: map[string]string{"emails": `[{"type":"work","value":"adele@contoso.example","primary":true}]`},
		},
		{
			name: "entra/typed-address-merge",
			res:  bareUser,
			body: body(
				`{"op":"Add","path":"addresses[type eq \"work\"].streetAddress","value":"1 Microsoft Way"}`,
				`{"op":"Add","path":"addresses[type eq \"work\"].locality","value":"Redmond"}`,
				`{"op":"Add","path":"addresses[type eq \"work\"].region","value":"WA"}`,
				`{"op":"Add","path":"addresses[type eq \"work\"].postalCode","value":"98052"}`,
				`{"op":"Add","path":"addresses[type eq \"work\"].country","value":"US"}`,
				`{"op":"Add","path":"emails[type eq \"work\"].value","value":"adele@contoso.example"}`,
				`{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555 0100"}`,
				`{"op":"Add","path":"phoneNumbers[type eq \"work\"].value","value":"+1 555 0101"}`,
			),
			want: map[string]string{
				"addresses":    `[{"type":"work","streetAddress":"1 Microsoft Way","locality":"Redmond","region":"WA","postalCode":"98052","country":"US"}]`,
				"emails":       `[{"type":"work","value":"adele@contoso.example"}]`,
				"phoneNumbers": `[{"type":"mobile","value":"+1 555 0100"},{"type":"work","value":"+1 555 0101"}]`,
			},
		},
		{
			name: "entra/typed-address-merge-into-existing",
			body: body(`{"op":"Add","path":"addresses[type eq \"work\"].postalCode","value":"91609"}`, `{"op":"Add","path":"addresses[type eq \"home\"].locality","value":"Burbank"}`),
			want: map[string]string{
				"addresses/0/postalCode": `"91609"`,
				"addresses/0/locality":   `"Hollywood"`,
				"addresses/1":            `{"type":"home","locality":"Burbank"}`,
				"addresses/2":            absent,
			},
		},
		{
			name: "entra/typed-entry-and-filter",
			res:  bareUser,
			body: body(`{"op":"Add","path":"emails[type eq \"work\" and primary eq true].value","value":"a@contoso.example"}`, `{"op":"Add","path":"emails[type eq \"work\" and primary eq true].display","value":"Adele"}`),
			want: map[string]string{"emails": `[{"type":"work","primary":true,"value":"a@contoso.example","display":"Adele"}]`},
		},
		{
			name: "entra/validator-email-sequence",
			res:  bareUser,
			body: body(
				`{"op":"replace","path":"emails[type eq \"work\"].value","value":"oren.collins@white.example"}`,
				`{"op":"add","path":"emails[type eq \"home\"].value","value":"angelita@mante.example"}`,
				`{"op":"add","path":"emails[type eq \"other\"].value","value":"yasmine@braun.example"}`,
				`{"op":"replace","path":"emails[type eq \"work\"].display","value":"0TXBC2MOGUI0"}`,
				`{"op":"add","path":"emails[type eq \"work\"].primary","value":false}`,
				`{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}`,
			),
			want: map[string]string{
				"emails": `[{"type":"work","value":"oren.collins@white.example","display":"0TXBC2MOGUI0","primary":false},{"type":"home","value":"angelita@mante.example","primary":true},{"type":"other","value":"yasmine@braun.example"}]`,
			},
		},
		{
			name: "entra/name-familyName",
			body: body(`{"op":"Replace","path":"name.familyName","value":"Vance"}`),
			want: map[string]string{"name/familyName": `"Vance"`, "name/givenName": `"Barbara"`},
		},
		{
			name: "entra/enterprise-employeeNumber",
			res:  bareUser,
			body: body(`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"1234"}`, `{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Retail"}`),
			want: map[string]string{
				enterprise: `{"employeeNumber":"1234","department":"Retail"}`,
				"schemas":  `["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]`,
			},
		},
		{
			name: "entra/manager-bare-string",
			body: body(`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"f9ae9a6b-0000-4f4e-8d4e-1b0b1b0b1b0b"}`),
			want: map[string]string{enterprise + "/manager": `{"value":"f9ae9a6b-0000-4f4e-8d4e-1b0b1b0b1b0b"}`},
		},
		{
			name: "entra/manager-add-bare-string",
			res:  bareUser,
			body: body(`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"` + managerID + `"}`),
			want: map[string]string{enterprise: `{"manager":{"value":"` + managerID + `"}}`},
		},
		{
			name: "entra/manager-same-id-keeps-ref",
			body: body(`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"` + managerID + `"}`),
			want: map[string]string{enterprise + "/manager": `{"value":"` + managerID + `","$ref":"../Users/` + managerID + `"}`},
		},
		{
			name: "entra/manager-clear-empty-string",
			body: body(`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":""}`),
			want: map[string]string{enterprise + "/manager": absent, enterprise + "/department": `"Tour Operations"`},
		},
		{
			name: "entra/manager-clear-empty-value-object",
			body: body(`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":""}}`),
			want: map[string]string{enterprise + "/manager": absent},
		},
		{
			name: "entra/manager-clear-empty-value-sub-attribute",
			body: body(`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value","value":""}`),
			want: map[string]string{enterprise + "/manager": absent},
		},
		{
			name: "entra/manager-remove",
			body: body(`{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}`),
			want: map[string]string{enterprise + "/manager": absent, enterprise + "/employeeNumber": `"701984"`},
		},
		{
			name: "entra/manager-clear-leaves-no-empty-extension",
			res:  `{"id":"x","userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m"}}}`,
			body: body(`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":""}`),
			want: map[string]string{enterprise: absent, "schemas": `["urn:ietf:params:scim:schemas:core:2.0:User"]`},
		},
		{
			name: "entra/pathless-dotted-and-urn-keys",
			body: body(`{"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom","name.familyName":"Unua","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}`),
			want: map[string]string{
				"displayName":                  `"Bjfe"`,
				"name":                         `{"formatted":"Ms. Barbara J Jensen III","givenName":"Kkom","familyName":"Unua"}`,
				enterprise + "/employeeNumber": `"Aklq"`,
				"name.givenName":               absent,
			},
		},
		{
			name: "entra/pathless-urn-dotted-manager-value",
			res:  bareUser,
			body: body(`{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value":"` + managerID + `"}}`),
			want: map[string]string{enterprise: `{"manager":{"value":"` + managerID + `"}}`},
		},
		{
			name: "entra/pathless-active-string-false",
			body: body(`{"op":"replace","value":{"active":"False"}}`),
			want: map[string]string{"active": `false`},
		},
		{
			name: "entra/roles-primary-string",
			res:  bareUser,
			body: body(`{"op":"Add","path":"roles","value":[{"primary":"True","type":"WindowsAzureActiveDirectoryRole","value":"Admin"}]}`),
			want: map[string]string{"roles": `[{"primary":true,"type":"WindowsAzureActiveDirectoryRole","value":"Admin"}]`},
		},
		{
			name: "entra/custom-extension-attribute",
			res:  bareUser,
			body: body(`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:costCode","value":"CC-42"}`),
			want: map[string]string{
				"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": `{"costCode":"CC-42"}`,
				"schemas": `["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"]`,
			},
		},
		{
			name: "entra/custom-extension-pathless-key",
			res:  `{"id":"x","userName":"u","urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User":{"costCode":"CC-1","badge":"B"}}`,
			body: body(`{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:CostCode":"CC-2"}}`),
			want: map[string]string{"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": `{"costCode":"CC-2","badge":"B"}`},
		},
		{
			name: "entra/custom-extension-remove-last-attribute",
			res:  `{"id":"x","userName":"u","urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User":{"costCode":"CC-1"}}`,
			body: body(`{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:costCode"}`),
			want: map[string]string{
				"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": absent,
				"schemas": `["urn:ietf:params:scim:schemas:core:2.0:User"]`,
			},
		},
		{
			name: "entra/pathless-whole-custom-extension",
			res:  bareUser,
			body: body(`{"op":"add","value":{"urn:example:params:scim:schemas:extension:Badge:1.0:User":{"badgeId":"77"}}}`),
			want: map[string]string{"urn:example:params:scim:schemas:extension:Badge:1.0:User": `{"badgeId":"77"}`},
		},
		{
			name:  "entra/add-members",
			rt:    schema.Group,
			body:  body(`{"op":"Add","path":"members","value":[{"value":"` + userID + `"}]}`),
			delta: &MemberDelta{Add: []Member{{Value: userID}}},
		},
		{
			name:    "entra/remove-members-value-array",
			rt:      schema.Group,
			body:    body(`{"op":"Remove","path":"members","value":[{"value":"` + userID + `"}]}`),
			members: noListing{t},
			delta:   &MemberDelta{Remove: []string{userID}},
		},
		{
			name:    "entra/remove-member-filter",
			rt:      schema.Group,
			body:    body(`{"op":"remove","path":"members[value eq \"` + userID + `\"]"}`),
			members: noListing{t},
			delta:   &MemberDelta{Remove: []string{userID}},
		},
		{
			name: "entra/group-displayName-and-externalId",
			rt:   schema.Group,
			body: body(`{"op":"Replace","path":"displayName","value":"Tour Leads"}`, `{"op":"Add","path":"externalId","value":"0c7e6b1e"}`),
			want: map[string]string{"displayName": `"Tour Leads"`, "externalId": `"0c7e6b1e"`},
		},
		{
			name: "entra/remove-email-with-value",
			body: body(`{"op":"Remove","path":"emails[type eq \"work\"].value","value":"someone-else@example.com"}`),
			want: map[string]string{"emails/0/value": `"bjensen@example.com"`},
		},
		// Okta.
		{
			name: "okta/replace-with-id-in-value",
			rt:   schema.Group,
			body: body(`{"op":"replace","value":{"id":"` + groupID + `","displayName":"Tour Leads"}}`),
			want: map[string]string{"displayName": `"Tour Leads"`, "id": `"` + groupID + `"`},
		},
		{
			name:     "okta/replace-with-other-id",
			rt:       schema.Group,
			body:     body(`{"op":"replace","value":{"id":"another-id","displayName":"Tour Leads"}}`),
			status:   http.StatusBadRequest,
			scimType: scimerr.Mutability,
			detail:   []string{"operation 1 (replace)", "id is read-only"},
		},
		{
			name: "okta/deactivate",
			body: body(`{"op":"replace","value":{"active":false}}`),
			want: map[string]string{"active": `false`, "userName": `"bjensen@example.com"`},
		},
		{
			name:    "okta/add-and-remove-members",
			rt:      schema.Group,
			body:    body(`{"op":"remove","path":"members[value eq \"00u1\"]"}`, `{"op":"add","path":"members","value":[{"value":"00u2","display":"Jane Doe"}]}`),
			members: noListing{t},
			delta:   &MemberDelta{Add: []Member{{Value: "00u2"}}, Remove: []string{"00u1"}},
		},
		{
			name:  "okta/pathless-replace-with-members",
			rt:    schema.Group,
			body:  body(`{"op":"replace","value":{"id":"` + groupID + `","displayName":"Tour Guides","members":[{"value":"00u2","display":"Jane Doe"}]}}`),
			want:  map[string]string{"displayName": `"Tour Guides"`, "members": absent},
			delta: &MemberDelta{Clear: true, Add: []Member{{Value: "00u2"}}},
		},
		// Others.
		{
			name:    "jumpcloud/remove-members-value-array",
			rt:      schema.Group,
			body:    body(`{"op":"remove","path":"members","value":[{"value":"a"},{"value":"b"}]}`),
			members: noListing{t},
			delta:   &MemberDelta{Remove: []string{"a", "b"}},
		},
		{
			name: "onelogin/pathless-enterprise-object-with-manager",
			body: body(`{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Finance","manager":{"value":"m2","displayName":"Ann Boss"}}}}`),
			want: map[string]string{
				enterprise: `{"employeeNumber":"701984","department":"Finance","manager":{"value":"m2"}}`,
			},
		},
		{
			name: "onelogin/add-enterprise-extension-path",
			res:  bareUser,
			body: body(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"division":"EMEA","costCenter":"4130"}}`),
			want: map[string]string{enterprise: `{"division":"EMEA","costCenter":"4130"}`},
		},
	})
}
