package server

import (
	"net/url"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

const userSchema = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`
const groupSchema = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]`

// TestIdentifierRule covers the identifier rule as a client meets it:
// look-alike names are one name for uniqueness and for filters, names a
// person can't see the end of are refused, and what is stored is NFC.
func TestIdentifierRule(t *testing.T) {
	h := newHarness(t, Config{})
	composed := "ren\u00e9e@example.com"
	id := h.must("POST", "/Users", `{`+userSchema+`,"userName":"`+composed+`","emails":[{"value":"Ren\u00e9e@Example.com","type":"work"}]}`, 201)["id"].(string)
	h.must("POST", "/Groups", `{`+groupSchema+`,"displayName":"Stra\u00dfe Team"}`, 201)

	for _, c := range []struct{ name, userName string }{
		{"decomposed accent", "rene\u0301e@example.com"},
		{"upper case", "REN\u00c9E@EXAMPLE.COM"},
		{"fullwidth", "\uff52\uff45\uff4e\u00e9\uff45@example.com"},
	} {
		t.Run("collides/"+c.name, func(t *testing.T) {
			w, body := h.do("POST", "/Users", `{`+userSchema+`,"userName":"`+c.userName+`"}`)
			if w.Code != 409 || body["scimType"] != "uniqueness" {
				t.Fatalf("create of a look-alike: %d %v; want 409 uniqueness", w.Code, body)
			}
			page := h.must("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+c.userName+`"`), "", 200)
			if n := page["totalResults"]; n == nil || n.(interface{ String() string }).String() != "1" {
				t.Fatalf("filter by the look-alike found %v; want the original", page["totalResults"])
			}
		})
	}
	for _, f := range []string{`emails[value eq "REN\u00c9E@example.com"]`, `emails.value sw "rene\u0301e@"`} {
		page := h.must("GET", "/Users?filter="+url.QueryEscape(f), "", 200)
		if page["totalResults"].(interface{ String() string }).String() != "1" {
			t.Errorf("%s found %v", f, page["totalResults"])
		}
	}
	w, body := h.do("POST", "/Groups", `{`+groupSchema+`,"displayName":"STRASSE TEAM"}`)
	if w.Code != 409 {
		t.Errorf("group look-alike: %d %v; want 409", w.Code, body)
	}

	// PATCH value filters use the same rule: the existing work email is
	// found by a look-alike, not added a second time.
	h.must("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[value eq \"RENÉE@EXAMPLE.COM\"].type","value":"home"}]}`, 204)
	emails := h.must("GET", "/Users/"+id, "", 200)["emails"].([]any)
	if len(emails) != 1 || emails[0].(map[string]any)["type"] != "home" {
		t.Errorf("emails after a PATCH by a look-alike: %v; want the one email, now home", emails)
	}

	// Stored in NFC: a decomposed name written by PATCH comes back composed.
	h.must("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"userName","value":"zoe\u0308@example.com"}]}`, 204)
	got := h.must("GET", "/Users/"+id, "", 200)
	if got["userName"] != "zo\u00eb@example.com" {
		t.Errorf("stored userName %q; want the NFC form", got["userName"])
	}

	refused := []struct{ name, method, path, body string }{
		{"leading space", "POST", "/Users", `{` + userSchema + `,"userName":" bjensen@example.com"}`},
		{"zero-width space", "POST", "/Users", `{` + userSchema + `,"userName":"bjen\u200bsen"}`},
		{"only spaces", "POST", "/Users", `{` + userSchema + `,"userName":"   "}`},
		{"email with trailing space", "POST", "/Users", `{` + userSchema + `,"userName":"x","emails":[{"value":"x@example.com "}]}`},
		{"group named blank", "POST", "/Groups", `{` + groupSchema + `,"displayName":" "}`},
		{"put padded name", "PUT", "/Users/" + id, `{` + userSchema + `,"userName":"zo\u00eb@example.com\u00a0"}`},
		{"patch soft hyphen", "PATCH", "/Users/" + id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"userName","value":"zo\u00ad\u00eb"}]}`},
		{"patch email bom", "PATCH", "/Users/" + id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails","value":[{"value":"\ufeffy@example.com"}]}]}`},
	}
	for _, c := range refused {
		t.Run("refused/"+c.name, func(t *testing.T) {
			before := h.must("GET", "/Users/"+id, "", 200)
			w, body := h.do(c.method, c.path, c.body)
			if w.Code != 400 || body["scimType"] != "invalidValue" {
				t.Fatalf("%d %v; want 400 invalidValue", w.Code, body)
			}
			after := h.must("GET", "/Users/"+id, "", 200)
			if before["meta"].(map[string]any)["version"] != after["meta"].(map[string]any)["version"] {
				t.Fatal("a refused request changed the user")
			}
		})
	}
}

// TestLegacyNamesStayWritable: a resource stored before the identifier
// rule, with a name the rule now refuses, can still be updated (an IdP can
// deactivate it) as long as the name itself is not changed.
func TestLegacyNamesStayWritable(t *testing.T) {
	h := newHarness(t, Config{})
	out, err := h.st.Create(t.Context(), "acme", schema.User, map[string]any{"userName": " legacy\u200b", "emails": []any{map[string]any{"value": "legacy@example.com "}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := out.Resource["id"].(string)
	h.must("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":"False"}]}`, 204)
	h.must("PUT", "/Users/"+id, `{`+userSchema+`,"userName":" legacy\u200b","emails":[{"value":"legacy@example.com "}],"active":false}`, 200)
	w, body := h.do("PUT", "/Users/"+id, `{`+userSchema+`,"userName":" other"}`)
	if w.Code != 400 || body["scimType"] != "invalidValue" {
		t.Fatalf("renaming to a refused name: %d %v; want 400 invalidValue", w.Code, body)
	}
}
