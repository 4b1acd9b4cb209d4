package patch

import (
	"net/http"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// TestRFC7644Examples runs every PATCH example of RFC 7644 §3.5.2 (and the
// PATCH inside the bulk example of §3.7.3) against the sample resources.
func TestRFC7644Examples(t *testing.T) {
	const babs = `{"display":"Babs Jensen","$ref":"https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646","value":"2819c223-7f76-453a-919d-413861904646"}`
	const james = `{"display":"James Smith","$ref":"https://example.com/v2/Users/08e1d05d-121c-4561-8b96-473d93df9210","value":"08e1d05d-121c-4561-8b96-473d93df9210"}`
	babsMember := Member{Value: userID, Ref: "https://example.com/v2/Users/" + userID}
	jamesMember := Member{Value: "08e1d05d-121c-4561-8b96-473d93df9210", Ref: "https://example.com/v2/Users/08e1d05d-121c-4561-8b96-473d93df9210"}
	runCases(t, []patchCase{
		{
			name:  "3.5.2.1/add-member",
			rt:    schema.Group,
			body:  body(`{"op":"add","path":"members","value":[` + babs + `]}`),
			want:  map[string]string{"displayName": `"Tour Guides"`, "members": absent},
			delta: &MemberDelta{Add: []Member{babsMember}},
		},
		{
			name: "3.5.2.1/add-without-path",
			res:  bareUser,
			body: body(`{"op":"add","value":{"emails":[{"value":"babs@jensen.org","type":"home"}],"nickname":"Babs"}}`),
			want: map[string]string{
				"emails":   `[{"value":"babs@jensen.org","type":"home"}]`,
				"nickName": `"Babs"`,
				"nickname": absent,
			},
		},
		{
			name: "3.5.2.1/add-without-path/appends-to-existing-emails",
			body: body(`{"op":"add","value":{"emails":[{"value":"babs@example.org","type":"other"}],"nickname":"Babs"}}`),
			want: map[string]string{
				"emails/0/value": `"bjensen@example.com"`,
				"emails/1/value": `"babs@jensen.org"`,
				"emails/2":       `{"value":"babs@example.org","type":"other"}`,
				"emails/3":       absent,
			},
		},
		{
			name: "3.5.2.1/add-existing-value-is-not-duplicated",
			body: body(`{"op":"add","value":{"emails":[{"value":"babs@jensen.org","type":"home"}],"nickname":"Babs"}}`),
			want: map[string]string{
				"emails/1": `{"value":"babs@jensen.org","type":"home"}`,
				"emails/2": absent,
			},
		},
		{
			name: "3.5.2.1/add-equal-value-in-other-case-marks-it-primary",
			body: body(`{"op":"add","path":"emails","value":[{"value":"BABS@jensen.org","type":"home","primary":true},{"value":"babs@jensen.org","type":"home"}]}`),
			want: map[string]string{
				"emails/0/primary": `false`,
				"emails/1":         `{"value":"babs@jensen.org","type":"home","primary":true}`,
				"emails/2":         absent,
			},
		},
		{
			name:  "3.5.2.2/remove-single-member",
			rt:    schema.Group,
			body:  body(`{"op":"remove","path":"members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}`),
			delta: &MemberDelta{Remove: []string{userID}},
		},
		{
			name:  "3.5.2.2/remove-all-members",
			rt:    schema.Group,
			body:  body(`{"op":"remove","path":"members"}`),
			delta: &MemberDelta{Clear: true},
		},
		{
			name: "3.5.2.2/remove-from-complex-multi-valued",
			body: body(`{"op":"remove","path":"emails[type eq \"work\" and value ew \"example.com\"]"}`),
			want: map[string]string{
				"emails": `[{"value":"babs@jensen.org","type":"home"}]`,
			},
		},
		{
			name:  "3.5.2.2/replace-members-by-remove-then-add",
			rt:    schema.Group,
			body:  body(`{"op":"remove","path":"members"}`, `{"op":"add","path":"members","value":[`+babs+`,`+james+`]}`),
			delta: &MemberDelta{Clear: true, Add: []Member{babsMember, jamesMember}},
		},
		{
			name:  "3.5.2.3/replace-all-members",
			rt:    schema.Group,
			body:  body(`{"op":"replace","path":"members","value":[` + babs + `,` + james + `]}`),
			delta: &MemberDelta{Clear: true, Add: []Member{babsMember, jamesMember}},
		},
		{
			name: "3.5.2.3/replace-work-address",
			body: body(`{"op":"replace","path":"addresses[type eq \"work\"]","value":{"type":"work","streetAddress":"911 Universal City Plaza","locality":"Hollywood","region":"CA","postalCode":"91608","country":"US","formatted":"911 Universal City Plaza\nHollywood, CA 91608 US","primary":true}}`),
			want: map[string]string{
				"addresses": `[{"type":"work","streetAddress":"911 Universal City Plaza","locality":"Hollywood","region":"CA","postalCode":"91608","country":"US","formatted":"911 Universal City Plaza\nHollywood, CA 91608 US","primary":true}]`,
			},
		},
		{
			name: "3.5.2.3/replace-sub-attribute-of-filtered-value",
			body: body(`{"op":"replace","path":"addresses[type eq \"work\"].streetAddress","value":"1010 Broadway Ave"}`),
			want: map[string]string{
				"addresses/0/streetAddress": `"1010 Broadway Ave"`,
				"addresses/0/locality":      `"Hollywood"`,
				"addresses/1":               absent,
			},
		},
		{
			name: "3.5.2.3/replace-without-path",
			body: body(`{"op":"replace","value":{"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}],"nickName":"Babs"}}`),
			want: map[string]string{
				"emails":   `[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}]`,
				"nickName": `"Babs"`,
			},
		},
		{
			name: "3.5.2.3/replace-multi-valued-without-filter-replaces-all",
			body: body(`{"op":"replace","path":"emails","value":[{"value":"new@example.com","type":"work"}]}`),
			want: map[string]string{"emails": `[{"value":"new@example.com","type":"work"}]`},
		},
		{
			name: "3.5.2.3/replace-complex-keeps-unnamed-sub-attributes",
			body: body(`{"op":"replace","path":"name","value":{"givenName":"Babs"}}`),
			want: map[string]string{"name": `{"formatted":"Ms. Barbara J Jensen III","familyName":"Jensen","givenName":"Babs"}`},
		},
		{
			name: "3.5.2.3/replace-missing-attribute-is-add",
			res:  bareUser,
			body: body(`{"op":"replace","path":"name.familyName","value":"Vance"}`, `{"op":"replace","path":"title","value":"Engineer"}`),
			want: map[string]string{"name": `{"familyName":"Vance"}`, "title": `"Engineer"`},
		},
		{
			name:     "3.5.2.3/replace-filter-without-match-is-noTarget",
			body:     body(`{"op":"replace","path":"emails[value co \"nowhere\"].type","value":"other"}`),
			status:   http.StatusBadRequest,
			scimType: scimerr.NoTarget,
			detail:   []string{`operation 1 (replace "emails[value co \"nowhere\"].type")`, "no emails value matches"},
		},
		{
			name: "3.5.2.1/add-singular-replaces",
			body: body(`{"op":"add","path":"displayName","value":"Barbara"}`),
			want: map[string]string{"displayName": `"Barbara"`},
		},
		{
			name: "3.5.2.1/add-complex-merges",
			body: body(`{"op":"add","path":"name","value":{"middleName":"Jane"}}`),
			want: map[string]string{"name": `{"formatted":"Ms. Barbara J Jensen III","familyName":"Jensen","givenName":"Barbara","middleName":"Jane"}`},
		},
		{
			name: "3.5.2/primary-moves-to-added-value",
			body: body(`{"op":"add","path":"emails","value":[{"value":"new@example.com","type":"other","primary":true}]}`),
			want: map[string]string{
				"emails/0/primary": `false`,
				"emails/2":         `{"value":"new@example.com","type":"other","primary":true}`,
			},
		},
		{
			name: "3.5.2/primary-moves-with-filtered-replace",
			body: body(`{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}`),
			want: map[string]string{
				"emails/0/primary": `false`,
				"emails/1/primary": `true`,
			},
		},
		{
			name: "3.5.2.2/remove-singular",
			body: body(`{"op":"remove","path":"displayName"}`),
			want: map[string]string{"displayName": absent, "userName": `"bjensen@example.com"`},
		},
		{
			name: "3.5.2.2/remove-sub-attribute-of-filtered-values",
			body: body(`{"op":"remove","path":"addresses[type eq \"work\"].region"}`),
			want: map[string]string{"addresses/0/region": absent, "addresses/0/locality": `"Hollywood"`},
		},
		{
			name: "3.5.2.2/remove-last-value-unassigns-attribute",
			body: body(`{"op":"remove","path":"phoneNumbers[type eq \"work\"]"}`),
			want: map[string]string{"phoneNumbers": absent},
		},
		{
			name: "3.5.2.2/remove-unassigned-attribute-succeeds",
			res:  bareUser,
			body: body(`{"op":"remove","path":"nickName"}`, `{"op":"remove","path":"emails[type eq \"work\"]"}`, `{"op":"remove","path":"name.givenName"}`),
			want: map[string]string{"nickName": absent, "emails": absent, "name": absent},
		},
		{
			name: "3.5.2.2/remove-all-values-of-multi-valued",
			body: body(`{"op":"remove","path":"emails"}`),
			want: map[string]string{"emails": absent},
		},
		{
			name: "3.5.2/operations-apply-in-order",
			body: body(`{"op":"replace","path":"nickName","value":"One"}`, `{"op":"remove","path":"nickName"}`, `{"op":"add","path":"nickName","value":"Three"}`),
			want: map[string]string{"nickName": `"Three"`},
		},
		{
			name: "3.7.3/bulk-patch-body",
			body: body(`{"op":"remove","path":"nickName"}`, `{"op":"add","path":"userName","value":"Dave"}`),
			want: map[string]string{"userName": `"Dave"`, "nickName": absent},
		},
		{
			name: "3.10/urn-qualified-core-path",
			body: body(`{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName","value":"Jensen-Smith"}`),
			want: map[string]string{"name/familyName": `"Jensen-Smith"`},
		},
	})
}
