package server

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/scimjson"
)

// deepValue is a JSON value nesting depth levels of objects.
func deepValue(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + `{}` + strings.Repeat(`}`, depth-1)
}

const strictUser = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen@example.com"}`

// TestStrictBodies pins that every request body, of every endpoint that
// takes one, is decoded strictly, and that a refused body changes nothing.
func TestStrictBodies(t *testing.T) {
	type tc struct {
		name, method, path, body string
		scimType                 string
		detail                   string
	}
	var cases []tc
	bodies := []struct {
		name, body, scimType, detail string
	}{
		{"trailing brace", strictUser + `}`, scimerr.InvalidSyntax, fmt.Sprintf("data after its JSON value, at byte %d", len(strictUser))},
		{"trailing bracket", strictUser + ` ]`, scimerr.InvalidSyntax, fmt.Sprintf("at byte %d", len(strictUser)+1)},
		{"second object", strictUser + strictUser, scimerr.InvalidSyntax, "data after"},
		{"invalid UTF-8", "{\"userName\":\"bj\xe9nsen@example.com\"}", scimerr.InvalidSyntax, "not valid UTF-8 at byte 15"},
		{"lone surrogate", `{"userName":"bj\udc00nsen"}`, scimerr.InvalidSyntax, "surrogate"},
		{"NUL in userName", `{"userName":"bjensen@example.com\u0000"}`, scimerr.InvalidValue, "userName holds the control character U+0000"},
		{"control in member name", `{"userName":"b","x\u0001":1}`, scimerr.InvalidValue, "member name"},
		{"member twice", `{"userName":"bjensen@example.com","userName":"other@example.com"}`, scimerr.InvalidValue, `names the member "userName" twice`},
		{"member twice in two cases", `{"userName":"bjensen@example.com","USERNAME":"other@example.com"}`, scimerr.InvalidValue, `names the members "userName" and "USERNAME"`},
		{"too deep", `{"userName":"b","urn:x:ext":` + deepValue(scimjson.MaxDepth) + `}`, scimerr.InvalidValue, "deeper than 32 levels"},
		{"string too long", `{"userName":"b","nickName":"` + strings.Repeat("x", scimjson.MaxString+1) + `"}`, scimerr.InvalidValue, "nickName is a string of 65537 bytes"},
	}
	for _, b := range bodies {
		for _, ep := range []struct{ method, path string }{
			{"POST", "/Users"},
			{"PUT", "/Users/%s"},
			{"POST", "/Users/.search"},
			{"POST", "/.search"},
		} {
			cases = append(cases, tc{name: ep.method + " " + ep.path + " " + b.name, method: ep.method, path: ep.path,
				body: b.body, scimType: b.scimType, detail: b.detail})
		}
	}
	patchBodies := []struct{ name, body, scimType, detail string }{
		{"trailing bracket", `{"Operations":[{"op":"replace","path":"displayName","value":"x"}]}]`, scimerr.InvalidSyntax, "data after"},
		{"invalid UTF-8", "{\"Operations\":[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"\xff\"}]}", scimerr.InvalidSyntax, "not valid UTF-8 at byte 61"},
		{"control in value", `{"Operations":[{"op":"replace","path":"displayName","value":"a\u001bb"}]}`, scimerr.InvalidValue, "Operations[0].value holds"},
		{"op twice", `{"Operations":[{"op":"replace","op":"remove","path":"displayName","value":"x"}]}`, scimerr.InvalidValue, `Operations[0] names the member "op" twice`},
		{"too deep", `{"Operations":[{"op":"add","value":` + deepValue(scimjson.MaxDepth) + `}]}`, scimerr.InvalidValue, "deeper than 32"},
	}
	for _, b := range patchBodies {
		cases = append(cases, tc{name: "PATCH " + b.name, method: "PATCH", path: "/Users/%s", body: b.body, scimType: b.scimType, detail: b.detail})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			created := h.must("POST", "/Users", strictUser, http.StatusCreated)
			path := c.path
			if strings.Contains(path, "%s") {
				path = fmt.Sprintf(path, created["id"])
			}
			before := h.journal()
			w, m := h.do(c.method, path, c.body)
			if w.Code != http.StatusBadRequest || m["scimType"] != c.scimType {
				t.Fatalf("got %d %v, want 400 %s: %s", w.Code, m["scimType"], c.scimType, w.Body)
			}
			if d, _ := m["detail"].(string); !strings.Contains(d, c.detail) {
				t.Errorf("detail %q does not contain %q", d, c.detail)
			}
			if after := h.journal(); !reflect.DeepEqual(before, after) {
				t.Errorf("a refused request changed the journal: %v, was %v", after, before)
			}
		})
	}
}

// TestStrictBulk pins that the data of every bulk operation is held to the
// limits of a single request, and that a malformed one fails the whole
// request before any operation runs.
func TestStrictBulk(t *testing.T) {
	good := `{"method":"POST","path":"/Users","bulkId":"a","data":` + strictUser + `}`
	cases := []struct {
		name, body, scimType, detail string
	}{
		{"trailing brace", bulkRequest(0, good) + `}`, scimerr.InvalidSyntax, "data after"},
		{"invalid UTF-8 in data", bulkRequest(0, good+",{\"method\":\"POST\",\"path\":\"/Users\",\"data\":{\"userName\":\"\xc3\"}}"), scimerr.InvalidSyntax, "not valid UTF-8"},
		{"control in data", bulkRequest(0, good+`,{"method":"POST","path":"/Users","data":{"userName":"x\u0000"}}`), scimerr.InvalidValue, "Operations[1].data.userName holds the control character U+0000"},
		{"member twice in data", bulkRequest(0, good+`,{"method":"POST","path":"/Users","data":{"userName":"x","userName":"y"}}`), scimerr.InvalidValue, `the object at Operations[1].data names the member "userName" twice`},
		{"data too deep", bulkRequest(0, good+`,{"method":"POST","path":"/Users","data":{"userName":"y","urn:x:ext":`+deepValue(scimjson.MaxDepth)+`}}`), scimerr.InvalidValue, "a value may nest at most 32 levels"},
		{"string too long in data", bulkRequest(0, good+`,{"method":"POST","path":"/Users","data":{"userName":"`+strings.Repeat("y", scimjson.MaxString+1)+`"}}`), scimerr.InvalidValue, "Operations[1].data.userName is a string of 65537 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			w, m := h.do("POST", "/Bulk", c.body)
			if w.Code != http.StatusBadRequest || m["scimType"] != c.scimType {
				t.Fatalf("got %d %v, want 400 %s: %s", w.Code, m["scimType"], c.scimType, w.Body)
			}
			if d, _ := m["detail"].(string); !strings.Contains(d, c.detail) {
				t.Errorf("detail %q does not contain %q", d, c.detail)
			}
			if j := h.journal(); len(j) != 0 {
				t.Errorf("a refused bulk request wrote %v", j)
			}
		})
	}
}

// TestBulkLimitsLeaveDataTheSingleRequestDepth pins that the envelope of a
// bulk request does not eat into the depth its data may have.
func TestBulkLimitsLeaveDataTheSingleRequestDepth(t *testing.T) {
	cases := []struct {
		name  string
		depth int
		ok    bool
	}{
		{"data at the limit", scimjson.MaxDepth, true},
		{"data one level over", scimjson.MaxDepth + 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := bulkRequest(0, `{"method":"POST","path":"/Users","data":`+deepValue(c.depth)+`}`)
			_, err := bulkLimits.DecodeObject([]byte(body))
			if (err == nil) != c.ok {
				t.Fatalf("DecodeObject: %v, want ok=%v", err, c.ok)
			}
			_, err = decodeObject([]byte(deepValue(c.depth)))
			if (err == nil) != c.ok {
				t.Fatalf("the same data alone: %v, want ok=%v", err, c.ok)
			}
		})
	}
}

// TestStrictQueryParameters pins that query parameters with invalid UTF-8
// or control characters are refused, whatever the endpoint.
func TestStrictQueryParameters(t *testing.T) {
	cases := []struct {
		name, method, path, scimType, detail string
	}{
		{"filter invalid UTF-8", "GET", `/Users?filter=userName%20eq%20%22a%FF%22`, scimerr.InvalidFilter, "filter query parameter is not valid UTF-8 at byte 14"},
		{"filter NUL", "GET", `/Users?filter=userName%20eq%20%22a%00%22`, scimerr.InvalidFilter, "U+0000 at byte 14"},
		{"filter DEL", "GET", `/Groups?filter=displayName%20eq%20%22%7F%22`, scimerr.InvalidFilter, "U+007F"},
		{"filter escape", "GET", `/Users?filter=%1B`, scimerr.InvalidFilter, "U+001B"},
		{"second filter value", "GET", `/Users?filter=userName%20pr&filter=%00`, scimerr.InvalidFilter, "filter query parameter"},
		{"attributes", "GET", `/Users?attributes=userName%00`, scimerr.InvalidValue, "attributes query parameter holds"},
		{"attributes on a resource", "GET", `/Users/{id}?attributes=%C3`, scimerr.InvalidValue, "attributes query parameter is not valid UTF-8"},
		{"excludedAttributes", "GET", `/Users/{id}?excludedAttributes=%01`, scimerr.InvalidValue, "excludedAttributes"},
		{"excludedAttributes on PATCH", "PATCH", `/Users/{id}?excludedAttributes=%FE`, scimerr.InvalidValue, "excludedAttributes"},
		{"sortBy", "GET", `/Users?sortBy=userName%08`, scimerr.InvalidValue, "sortBy query parameter holds the control character U+0008"},
		{"sortOrder", "GET", `/Users?sortOrder=%FFascending`, scimerr.InvalidValue, "sortOrder"},
		{"startIndex", "GET", `/Users?startIndex=1%00`, scimerr.InvalidValue, "startIndex"},
		{"count", "GET", `/Users?count=%E2%82`, scimerr.InvalidValue, "count query parameter is not valid UTF-8 at byte 0"},
		{"cursor", "GET", `/Users?cursor=%00`, scimerr.InvalidValue, "cursor"},
		{"on a discovery endpoint", "GET", `/Schemas?attributes=%00`, scimerr.InvalidValue, "attributes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			created := h.must("POST", "/Users", strictUser, http.StatusCreated)
			path := strings.Replace(c.path, "{id}", created["id"].(string), 1)
			body := ""
			if c.method == "PATCH" {
				body = `{"Operations":[{"op":"replace","path":"displayName","value":"x"}]}`
			}
			before := h.journal()
			w, m := h.do(c.method, path, body)
			if w.Code != http.StatusBadRequest || m["scimType"] != c.scimType {
				t.Fatalf("got %d %v, want 400 %s: %s", w.Code, m["scimType"], c.scimType, w.Body)
			}
			d, _ := m["detail"].(string)
			if !strings.Contains(d, c.detail) {
				t.Errorf("detail %q does not contain %q", d, c.detail)
			}
			if strings.ContainsAny(d, "\x00\x01\x08\x1b\x7f\ufffd") {
				t.Errorf("detail %q echoes the value", d)
			}
			if after := h.journal(); !reflect.DeepEqual(before, after) {
				t.Errorf("a refused request changed the journal: %v, was %v", after, before)
			}
		})
	}
}

// TestQueryParametersStillAccepted pins that the check leaves ordinary
// parameters, tabs in a filter and unknown parameters alone.
func TestQueryParametersStillAccepted(t *testing.T) {
	cases := []struct{ name, path string }{
		{"filter", `/Users?filter=userName%20eq%20%22bjensen@example.com%22`},
		{"filter with a tab", `/Users?filter=userName%09eq%09%22bjensen@example.com%22`},
		{"non-ASCII filter", `/Users?filter=displayName%20eq%20%22B%C3%A4rbel%22`},
		{"paging", `/Users?startIndex=1&count=10&sortBy=userName&sortOrder=descending`},
		{"unknown parameter with a control", `/Users?x=%00`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.must("GET", c.path, "", http.StatusOK)
		})
	}
}

// TestDiscoveryRefusesFilter pins RFC 7644 §4: a filter on a discovery
// endpoint is 403.
func TestDiscoveryRefusesFilter(t *testing.T) {
	cases := []struct {
		path   string
		status int
	}{
		{"/ServiceProviderConfig?filter=patch.supported%20eq%20true", http.StatusForbidden},
		{"/Schemas?filter=id%20eq%20%22x%22", http.StatusForbidden},
		{"/Schemas/urn:ietf:params:scim:schemas:core:2.0:User?filter=x", http.StatusForbidden},
		{"/ResourceTypes?filter=name%20eq%20%22User%22", http.StatusForbidden},
		{"/ResourceTypes/User?filter=", http.StatusForbidden},
		{"/ServiceProviderConfig", http.StatusOK},
		{"/Schemas", http.StatusOK},
		{"/ResourceTypes/User", http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			h := newHarness(t, Config{})
			w, m := h.do("GET", c.path, "")
			if w.Code != c.status {
				t.Fatalf("got %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.status == http.StatusForbidden {
				if m["status"] != "403" || m["scimType"] != nil {
					t.Errorf("error body %v, want status 403 and no scimType", m)
				}
				if d, _ := m["detail"].(string); !strings.Contains(d, "filtering is not supported on the discovery endpoints") {
					t.Errorf("detail %q", d)
				}
			}
		})
	}
}
