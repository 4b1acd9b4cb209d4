package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const userCore = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`

// TestWrongTypesWriteNothing checks that a value of the wrong JSON type, a
// missing or wrong "schemas" and two primaries are refused over HTTP, in
// POST, PUT, PATCH and Bulk, with a SCIM error naming the attribute, and that
// nothing is written.
func TestWrongTypesWriteNothing(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		scimType, detail         string
	}{
		{"POST userName as a number", "POST", "/Users", `{` + userCore + `,"userName":123}`, "invalidValue", "userName must be of type string; got a number"},
		{"POST emails as a string", "POST", "/Users", `{` + userCore + `,"userName":"n","emails":"n@example.com"}`, "invalidValue", "emails is multi-valued and must be an array; got a string"},
		{"POST name as a string", "POST", "/Users", `{` + userCore + `,"userName":"n","name":"N N"}`, "invalidValue", "name must be of type complex"},
		{"POST without schemas", "POST", "/Users", `{"userName":"n"}`, "invalidSyntax", `"schemas" is required`},
		{"POST with the Group schema", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"userName":"n"}`, "invalidSyntax", "the core schema of User"},
		{"POST two primaries", "POST", "/Users", `{` + userCore + `,"userName":"n","emails":[{"value":"a@example.com","primary":true},{"value":"b@example.com","primary":true}]}`, "invalidValue", "more than one entry with primary true"},
		{"PUT active as a number", "PUT", "/Users/{id}", `{` + userCore + `,"userName":"a","active":1}`, "invalidValue", "active must be of type boolean; got a number"},
		{"PUT group without schemas", "PUT", "/Groups/{gid}", `{"displayName":"G"}`, "invalidSyntax", `"schemas" is required`},
		{"PATCH replace userName with a number", "PATCH", "/Users/{id}", `{"Operations":[{"op":"replace","path":"userName","value":123}]}`, "invalidValue", "userName must be of type string; got a number"},
		{"PATCH replace emails with a string", "PATCH", "/Users/{id}", `{"Operations":[{"op":"replace","path":"emails","value":"x@example.com"}]}`, "invalidValue", "emails is multi-valued and must be an array"},
		{"PATCH newline in title", "PATCH", "/Users/{id}", `{"Operations":[{"op":"replace","path":"title","value":"a\nb"}]}`, "invalidValue", "title contains the control character U+000A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			id := h.must("POST", "/Users", `{`+userCore+`,"userName":"a","title":"T","emails":[{"value":"a@example.com","primary":true}]}`, 201)["id"].(string)
			gid := h.must("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G"}`, 201)["id"].(string)
			before := h.journalLen()
			path := strings.NewReplacer("{id}", id, "{gid}", gid).Replace(tt.path)
			w, m := h.do(tt.method, path, tt.body)
			if w.Code != http.StatusBadRequest || m["scimType"] != tt.scimType {
				t.Fatalf("%d %v, want 400 %s: %s", w.Code, m["scimType"], tt.scimType, w.Body)
			}
			if d, _ := m["detail"].(string); !strings.Contains(d, tt.detail) {
				t.Errorf("detail %q does not contain %q", d, tt.detail)
			}
			if n := h.journalLen(); n != before {
				t.Errorf("a refused request wrote %d journal events", n-before)
			}
			got := h.must("GET", "/Users/"+id, "", 200)
			if got["userName"] != "a" || got["title"] != "T" || len(got["emails"].([]any)) != 1 {
				t.Errorf("the user changed: %v", got)
			}
		})
	}
}

// TestBulkDataIsChecked checks that a Bulk POST's data is held to the same
// rules as a POST body.
func TestBulkDataIsChecked(t *testing.T) {
	h := newHarness(t, Config{})
	res := h.bulk(bulkRequest(0,
		`{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"no-schemas"}},`+
			`{"method":"POST","path":"/Users","bulkId":"b","data":{`+userCore+`,"userName":7}},`+
			`{"method":"POST","path":"/Users","bulkId":"c","data":{`+userCore+`,"userName":"ok"}}`))
	for i, want := range []string{"400", "400", "201"} {
		if got, _ := res[i]["status"].(string); got != want {
			t.Errorf("operation %d: status %s, want %s: %v", i+1, got, want, res[i])
		}
	}
}

// TestDuplicatesCollapseOnWrite checks that duplicate values of a
// multi-valued attribute are stored once, whichever way they arrive.
func TestDuplicatesCollapseOnWrite(t *testing.T) {
	h := newHarness(t, Config{})
	emails := func(id string) string {
		b, _ := json.Marshal(h.must("GET", "/Users/"+id, "", 200)["emails"])
		return string(b)
	}
	id := h.must("POST", "/Users", `{`+userCore+`,"userName":"a","emails":[{"value":"a@example.com","type":"work"},{"value":"A@Example.COM","type":"work","primary":true}]}`, 201)["id"].(string)
	if got, want := emails(id), `[{"primary":true,"type":"work","value":"a@example.com"}]`; got != want {
		t.Errorf("after POST: emails = %s, want %s", got, want)
	}
	h.must("PUT", "/Users/"+id, `{`+userCore+`,"userName":"a","emails":[{"value":"b@example.com","type":"work"},{"value":"b@example.com","type":"work"},{"value":"b@example.com","type":"home"}]}`, 200)
	if got, want := emails(id), `[{"type":"work","value":"b@example.com"},{"type":"home","value":"b@example.com"}]`; got != want {
		t.Errorf("after PUT: emails = %s, want %s", got, want)
	}
	h.must("PATCH", "/Users/"+id, `{"Operations":[{"op":"add","path":"emails","value":[{"value":"B@example.com","type":"work","primary":true}]}]}`, 204)
	if got, want := emails(id), `[{"primary":true,"type":"work","value":"b@example.com"},{"type":"home","value":"b@example.com"}]`; got != want {
		t.Errorf("after PATCH add: emails = %s, want %s", got, want)
	}
	h.must("PATCH", "/Users/"+id, `{"Operations":[{"op":"replace","path":"emails[type eq \"home\"].type","value":"work"}]}`, 204)
	if got, want := emails(id), `[{"primary":true,"type":"work","value":"b@example.com"}]`; got != want {
		t.Errorf("after a PATCH that made two values equal: emails = %s, want %s", got, want)
	}
}
