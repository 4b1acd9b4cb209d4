package patch

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// TestValueTypes checks that PATCH values of the wrong JSON type are refused
// as they are on POST and PUT, naming the attribute, the type it must have
// and the type it has. The conversions IdPs need stay (TestIdPDialects).
func TestValueTypes(t *testing.T) {
	bad := func(name, op, detail string) patchCase {
		return patchCase{name: name, body: body(op), status: http.StatusBadRequest, scimType: scimerr.InvalidValue, detail: []string{detail}}
	}
	long := strings.Repeat("x", schema.MaxIdentifierBytes+1)
	runCases(t, []patchCase{
		bad("replace userName with a number", `{"op":"replace","path":"userName","value":123}`, "userName must be of type string; got a number"),
		bad("path-less replace of userName with a number", `{"op":"replace","value":{"userName":123}}`, "userName must be of type string; got a number"),
		bad("add a numeric employeeNumber", `{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":1234}`, "employeeNumber must be of type string; got a number"),
		bad("replace a sub-attribute with a boolean", `{"op":"replace","path":"name.givenName","value":true}`, "name.givenName must be of type string; got a boolean"),
		bad("replace emails with a string", `{"op":"replace","path":"emails","value":"a@example.com"}`, "emails is multi-valued and must be an array; got a string"),
		bad("add one email object without an array", `{"op":"add","path":"emails","value":{"value":"a@example.com"}}`, "emails is multi-valued and must be an array; got an object"),
		bad("path-less emails as a string", `{"op":"add","value":{"emails":"a@example.com"}}`, "emails is multi-valued and must be an array; got a string"),
		bad("emails of bare strings", `{"op":"add","path":"emails","value":["a@example.com"]}`, "emails must be of type complex (a JSON object); got a string"),
		bad("name as a bare string", `{"op":"replace","path":"name","value":"Barbara Jensen"}`, "name must be of type complex (a JSON object); got a string"),
		bad("active neither boolean nor its string", `{"op":"replace","path":"active","value":"yes"}`, "active must be of type boolean"),
		bad("active as a number", `{"op":"replace","path":"active","value":0}`, "active must be of type boolean; got a number"),
		bad("manager as a number", `{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":7}`, "manager must be of type complex (a JSON object); got a number"),
		bad("newline in title", `{"op":"replace","path":"title","value":"CEO\n"}`, "title contains the control character U+000A"),
		bad("tab in a filtered email value", `{"op":"replace","path":"emails[type eq \"work\"].value","value":"a\tb@example.com"}`, "emails.value contains the control character U+0009"),
		bad("userName over the identifier cap", `{"op":"replace","path":"userName","value":"`+long+`"}`, "userName is 1025 bytes long"),
		bad("externalId over the identifier cap", `{"op":"replace","value":{"externalId":"`+long+`"}}`, "externalId is 1025 bytes long"),
		bad("work email over the identifier cap", `{"op":"add","path":"emails[type eq \"work\"].value","value":"`+long+`"}`, "emails.value is 1025 bytes long"),
		{
			name: "newline in the formatted address is free text",
			body: body(`{"op":"replace","path":"addresses[type eq \"work\"].formatted","value":"100 Universal City Plaza\r\nHollywood, CA 91608"}`),
			want: map[string]string{"addresses/0/formatted": `"100 Universal City Plaza\r\nHollywood, CA 91608"`},
		},
		{
			name:     "group displayName over the identifier cap",
			rt:       schema.Group,
			body:     body(`{"op":"replace","path":"displayName","value":"` + long + `"}`),
			status:   http.StatusBadRequest,
			scimType: scimerr.InvalidValue,
			detail:   []string{"displayName is 1025 bytes long"},
		},
	})
}

// TestDuplicatesCollapse checks that a PATCH never leaves two equal values
// in a multi-valued attribute (RFC 7643 §2.4), with the rule of
// schema.CollapseDuplicates.
func TestDuplicatesCollapse(t *testing.T) {
	runCases(t, []patchCase{
		{
			name: "add the same email twice in one value",
			res:  bareUser,
			body: body(`{"op":"add","path":"emails","value":[{"value":"a@contoso.example","type":"work"},{"value":"A@Contoso.example","type":"work"}]}`),
			want: map[string]string{"emails": `[{"value":"a@contoso.example","type":"work"}]`},
		},
		{
			name: "add an email already there in another case",
			body: body(`{"op":"add","path":"emails","value":[{"value":"BJensen@Example.com","type":"work"}]}`),
			want: map[string]string{"emails": `[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}]`},
		},
		{
			name: "replace with duplicates keeps the first, primary",
			body: body(`{"op":"replace","path":"emails","value":[{"value":"x@example.com"},{"value":"y@example.com"},{"value":"X@example.com","primary":true}]}`),
			want: map[string]string{"emails": `[{"value":"x@example.com","primary":true},{"value":"y@example.com"}]`},
		},
		{
			name: "path-less replace with duplicates",
			body: body(`{"op":"replace","value":{"phoneNumbers":[{"value":"555-0100","type":"work"},{"value":"555-0100","type":"work"}]}}`),
			want: map[string]string{"phoneNumbers": `[{"value":"555-0100","type":"work"}]`},
		},
		{
			name: "a filtered replace that makes two values equal",
			body: body(`{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"bjensen@example.com","type":"work"}}`),
			want: map[string]string{"emails": `[{"value":"bjensen@example.com","type":"work","primary":true}]`},
		},
		{
			name: "a sub-attribute replace that makes two values equal",
			body: body(`{"op":"replace","path":"emails[type eq \"home\"].type","value":"work"}`, `{"op":"replace","path":"emails[type eq \"work\" and value ew \"jensen.org\"].value","value":"bjensen@example.com"}`),
			want: map[string]string{"emails": `[{"value":"bjensen@example.com","type":"work","primary":true}]`},
		},
		{
			name: "values that differ in type are kept",
			body: body(`{"op":"add","path":"emails","value":[{"value":"bjensen@example.com","type":"home"}]}`),
			want: map[string]string{"emails/2": `{"value":"bjensen@example.com","type":"home"}`},
		},
	})
}

// TestPrimary checks RFC 7644 §3.5.2: an operation that makes a value
// primary makes every other value of the attribute not primary; one that
// makes two values primary at once is refused (RFC 7643 §2.4).
func TestPrimary(t *testing.T) {
	bad := func(name, op string) patchCase {
		return patchCase{name: name, body: body(op), status: http.StatusBadRequest, scimType: scimerr.InvalidValue, detail: []string{"primary"}}
	}
	runCases(t, []patchCase{
		{
			name: "add a primary email demotes the old one",
			body: body(`{"op":"add","path":"emails","value":[{"value":"new@example.com","type":"other","primary":true}]}`),
			want: map[string]string{"emails": `[{"value":"bjensen@example.com","type":"work","primary":false},{"value":"babs@jensen.org","type":"home"},{"value":"new@example.com","type":"other","primary":true}]`},
		},
		{
			name: "add an existing value as primary",
			body: body(`{"op":"add","path":"emails","value":[{"value":"babs@jensen.org","type":"home","primary":true}]}`),
			want: map[string]string{"emails": `[{"value":"bjensen@example.com","type":"work","primary":false},{"value":"babs@jensen.org","type":"home","primary":true}]`},
		},
		{
			name: "replace a filtered primary sub-attribute with the string True",
			body: body(`{"op":"replace","path":"emails[type eq \"home\"].primary","value":"True"}`),
			want: map[string]string{"emails": `[{"value":"bjensen@example.com","type":"work","primary":false},{"value":"babs@jensen.org","type":"home","primary":true}]`},
		},
		{
			name: "replace a filtered value with a primary one",
			body: body(`{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"babs@jensen.org","type":"home","primary":true}}`),
			want: map[string]string{"emails/0/primary": `false`, "emails/1/primary": `true`},
		},
		{
			name: "create a typed entry as primary",
			res:  `{"id":"x","userName":"u","phoneNumbers":[{"value":"1","type":"work","primary":true}]}`,
			body: body(`{"op":"add","path":"phoneNumbers[type eq \"mobile\"].primary","value":true}`, `{"op":"add","path":"phoneNumbers[type eq \"mobile\"].value","value":"2"}`),
			want: map[string]string{"phoneNumbers": `[{"value":"1","type":"work","primary":false},{"type":"mobile","primary":true,"value":"2"}]`},
		},
		{
			name: "operations one after another, the last primary wins",
			body: body(`{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}`, `{"op":"replace","path":"emails[type eq \"work\"].primary","value":true}`),
			want: map[string]string{"emails/0/primary": `true`, "emails/1/primary": `false`},
		},
		bad("add two primaries at once", `{"op":"add","path":"emails","value":[{"value":"x@example.com","primary":true},{"value":"y@example.com","primary":true}]}`),
		bad("replace with two primaries", `{"op":"replace","path":"emails","value":[{"value":"x@example.com","primary":true},{"value":"y@example.com","primary":"True"}]}`),
		bad("path-less replace with two primaries", `{"op":"replace","value":{"emails":[{"value":"x@example.com","primary":true},{"value":"y@example.com","primary":true}]}}`),
		bad("make every value primary", `{"op":"replace","path":"emails.primary","value":true}`),
		bad("a filter that makes two values primary", `{"op":"replace","path":"emails[value ew \"com\" or value ew \"org\"].primary","value":true}`),
	})
}
