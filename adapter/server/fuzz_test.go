package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// FuzzHandler sends arbitrary bodies, query strings and paths to the
// handler of a tenant that has a user and a group: whatever arrives, the
// answer is never a 5xx (501 for unsupported endpoints aside), and every
// error is a SCIM error body.
func FuzzHandler(f *testing.F) {
	seeds := []struct{ method, path, body string }{
		{"POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","active":"False","emails":[{"value":"a@example.com","type":"work","primary":true}]}`},
		{"PATCH", "/Users/{u}", `{"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"x@example.com"}]}`},
		{"PATCH", "/Users/{u}", `{"Operations":[{"op":"replace","value":{"name.givenName":"G","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":"{u}"}}]}`},
		{"PATCH", "/Groups/{g}", `{"Operations":[{"op":"Remove","path":"members","value":[{"value":"{u}"}]}]}`},
		{"PATCH", "/Groups/{g}", `{"Operations":[{"op":"add","path":"members","value":[{"value":"{u}"}]},{"op":"remove","path":"members[value eq \"{u}\"]"}]}`},
		{"PUT", "/Users/{u}", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","groups":[],"password":"p"}`},
		{"PUT", "/Groups/{g}", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g","members":[{"value":"{u}"}]}`},
		{"GET", "/Users?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22a%40example.com%22&sortBy=name.familyName", ""},
		{"POST", "/.search", `{"filter":"userName sw \"a\" or not (active eq false)","attributes":["userName"],"count":1}`},
		{"GET", "/Groups/{g}?excludedAttributes=members", ""},
		{"DELETE", "/Users/{u}", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.body)
	}
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	h := New(Config{Store: st, MaxBodyBytes: 16 << 10}).Handler("acme", "/scim/v2/acme")
	send := func(method, path, body string) *httptest.ResponseRecorder {
		r, err := http.NewRequest(method, "https://scim.example.com/scim/v2/acme"+path, strings.NewReader(body))
		if err != nil {
			return nil
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	// idOf returns the id of a created resource, or of the first result of
	// a list.
	idOf := func(w *httptest.ResponseRecorder) string {
		var m struct {
			ID        string `json:"id"`
			Resources []struct {
				ID string `json:"id"`
			} `json:"Resources"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		if m.ID == "" && len(m.Resources) > 0 {
			return m.Resources[0].ID
		}
		return m.ID
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		switch method {
		case "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			return
		}
		u := idOf(send("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"fuzz-user"}`))
		if u == "" {
			u = idOf(send("GET", "/Users?filter=userName+eq+%22fuzz-user%22", ""))
		}
		g := idOf(send("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"fuzz-group"}`))
		if g == "" {
			g = idOf(send("GET", "/Groups?filter=displayName+eq+%22fuzz-group%22", ""))
		}
		r := strings.NewReplacer("{u}", u, "{g}", g)
		w := send(method, r.Replace(path), r.Replace(body))
		if w == nil {
			return
		}
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var e struct {
				Schemas []string `json:"schemas"`
				Status  string   `json:"status"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || len(e.Schemas) != 1 || e.Status == "" {
				t.Fatalf("%s %s: error body %q", method, path, w.Body)
			}
		}
	})
}
