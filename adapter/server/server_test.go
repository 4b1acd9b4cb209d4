package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// countingStore counts the membership reads, to prove which requests make
// them.
type countingStore struct {
	store.Store
	members atomic.Int64
}

func (c *countingStore) Members(ctx context.Context, tenant, group string) ([]patch.Member, error) {
	c.members.Add(1)
	return c.Store.Members(ctx, tenant, group)
}

type harness struct {
	t  *testing.T
	st *countingStore
	h  http.Handler
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cs := &countingStore{Store: st}
	cfg.Store = cs
	return &harness{t: t, st: cs, h: New(cfg).Handler("acme", "/scim/v2/acme")}
}

func (h *harness) do(method, path, body string) (*httptest.ResponseRecorder, map[string]any) {
	h.t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, "https://scim.example.com/scim/v2/acme"+path, strings.NewReader(body))
	} else {
		r = httptest.NewRequest(method, "https://scim.example.com/scim/v2/acme"+path, nil)
	}
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, r)
	var m map[string]any
	if w.Body.Len() > 0 {
		d := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			h.t.Fatalf("%s %s: body is not a JSON object: %s", method, path, w.Body)
		}
	}
	return w, m
}

func (h *harness) must(method, path, body string, status int) map[string]any {
	h.t.Helper()
	w, m := h.do(method, path, body)
	if w.Code != status {
		h.t.Fatalf("%s %s: %d, want %d: %s", method, path, w.Code, status, w.Body)
	}
	return m
}

func TestExcludedMembersNeverReadsMembers(t *testing.T) {
	h := newHarness(t, Config{})
	u := h.must("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`, 201)["id"].(string)
	g := h.must("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"`+u+`"}]}`, 201)["id"].(string)

	before := h.st.members.Load()
	got := h.must("GET", "/Groups/"+g+"?excludedAttributes=members", "", 200)
	h.must("GET", "/Groups?filter=displayName+eq+%22G%22&excludedAttributes=members", "", 200)
	h.must("GET", "/Groups/"+g+"?attributes=displayName", "", 200)
	if n := h.st.members.Load() - before; n != 0 {
		t.Errorf("%d member reads for requests that exclude members", n)
	}
	if _, ok := got["members"]; ok {
		t.Errorf("members returned despite excludedAttributes: %v", got)
	}
	got = h.must("GET", "/Groups/"+g, "", 200)
	if h.st.members.Load() == before {
		t.Error("a plain GET did not read members")
	}
	ms := got["members"].([]any)
	m := ms[0].(map[string]any)
	if m["value"] != u || m["type"] != "User" || m["$ref"] != "https://scim.example.com/scim/v2/acme/Users/"+u {
		t.Errorf("member = %v", m)
	}
}

func TestLocationIsAbsoluteFromTheRequest(t *testing.T) {
	h := newHarness(t, Config{})
	w, m := h.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`)
	id := m["id"].(string)
	want := "https://scim.example.com/scim/v2/acme/Users/" + id
	if w.Header().Get("Location") != want || m["meta"].(map[string]any)["location"] != want {
		t.Errorf("Location %q, meta.location %v, want %q", w.Header().Get("Location"), m["meta"], want)
	}
	if w.Header().Get("ETag") != m["meta"].(map[string]any)["version"] {
		t.Errorf("ETag %q does not match meta.version", w.Header().Get("ETag"))
	}
	// Plain HTTP and another Host give another base.
	r := httptest.NewRequest("GET", "http://other.example:8080/scim/v2/acme/Users/"+id, nil)
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, r)
	if !strings.Contains(rec.Body.String(), `"location":"http://other.example:8080/scim/v2/acme/Users/`+id) {
		t.Errorf("location not built from the request: %s", rec.Body)
	}
}

func TestProjection(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.must("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","title":"T","name":{"givenName":"G","familyName":"F"},
		"emails":[{"value":"a@example.com","type":"work"},{"value":"b@example.com","type":"home"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D","costCenter":"C"},
		"urn:example:custom:1.0:User":{"badge":"7"}}`, 201)["id"].(string)
	tests := []struct {
		query string
		want  string
	}{
		{"attributes=userName", `{"id":"ID","schemas":SCHEMAS,"userName":"a"}`},
		{"attributes=name.familyName,emails.value", `{"id":"ID","schemas":SCHEMAS,"name":{"familyName":"F"},"emails":[{"value":"a@example.com"},{"value":"b@example.com"}]}`},
		{"attributes=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", `{"id":"ID","schemas":SCHEMAS,"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D"}}`},
		{"attributes=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", `{"id":"ID","schemas":SCHEMAS,"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D","costCenter":"C"}}`},
		{"attributes=urn:example:custom:1.0:User:badge", `{"id":"ID","schemas":SCHEMAS,"urn:example:custom:1.0:User":{"badge":"7"}}`},
		{"attributes=USERNAME&excludedAttributes=userName", `{"id":"ID","schemas":SCHEMAS,"userName":"a"}`},
	}
	schemas := `["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","urn:example:custom:1.0:User"]`
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := h.must("GET", "/Users/"+id+"?"+tt.query, "", 200)
			var want map[string]any
			d := json.NewDecoder(strings.NewReader(strings.NewReplacer("ID", id, "SCHEMAS", schemas).Replace(tt.want)))
			d.UseNumber()
			if err := d.Decode(&want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Errorf("got  %s\nwant %s", g, strings.NewReplacer("ID", id, "SCHEMAS", schemas).Replace(tt.want))
			}
		})
	}
	got := h.must("GET", "/Users/"+id+"?excludedAttributes=emails.type,title,id,meta,urn:example:custom:1.0:User", "", 200)
	if _, ok := got["title"]; ok {
		t.Error("title not excluded")
	}
	if got["id"] != id {
		t.Error("id is returned always, even when excluded")
	}
	if _, ok := got["meta"]; ok {
		t.Error("meta not excluded")
	}
	if _, ok := got["urn:example:custom:1.0:User"]; ok {
		t.Error("custom extension not excluded")
	}
	if e := got["emails"].([]any)[0].(map[string]any); e["type"] != nil || e["value"] != "a@example.com" {
		t.Errorf("emails.type not excluded: %v", e)
	}
}

func TestPatchResponses(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.must("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","title":"T"}`, 201)["id"].(string)
	body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"U"}]}`
	w, _ := h.do("PATCH", "/Users/"+id, body)
	if w.Code != 204 || w.Body.Len() != 0 {
		t.Errorf("PATCH: %d %q, want 204 and no body", w.Code, w.Body)
	}
	got := h.must("PATCH", "/Users/"+id+"?attributes=title", strings.Replace(body, `"U"`, `"V"`, 1), 200)
	if got["title"] != "V" || got["userName"] != nil {
		t.Errorf("PATCH with attributes: %v", got)
	}
	// All or nothing: a failing second operation leaves the first unapplied.
	h.must("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"W"},{"op":"replace","path":"nope","value":1}]}`, 400)
	if got := h.must("GET", "/Users/"+id, "", 200); got["title"] != "V" {
		t.Errorf("failed PATCH left a partial write: title %v", got["title"])
	}
}

func TestValidatorRefusesBeforeCommit(t *testing.T) {
	h := newHarness(t, Config{Validate: func(ctx context.Context, tenant string, rt *schema.ResourceType, res map[string]any) error {
		if rt == schema.User {
			if _, ok := res["emails"]; !ok {
				return scimerr.BadRequest(scimerr.InvalidValue, "this product requires an email for every user")
			}
		}
		return nil
	}})
	w, m := h.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`)
	if w.Code != 400 || m["scimType"] != "invalidValue" || !strings.Contains(m["detail"].(string), "requires an email") {
		t.Fatalf("POST without email: %d %v", w.Code, m)
	}
	id := h.must("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","emails":[{"value":"a@example.com"}]}`, 201)["id"].(string)
	h.must("PATCH", "/Users/"+id, `{"Operations":[{"op":"remove","path":"emails"}]}`, 400)
	h.must("PUT", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`, 400)
	if got := h.must("GET", "/Users/"+id, "", 200); got["emails"] == nil {
		t.Error("a refused write removed the email")
	}
}

func TestBodyLimit(t *testing.T) {
	h := newHarness(t, Config{MaxBodyBytes: 1024})
	w, m := h.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","title":"`+strings.Repeat("x", 2000)+`"}`)
	if w.Code != http.StatusRequestEntityTooLarge || m["status"] != "413" {
		t.Errorf("oversized body: %d %v", w.Code, m)
	}
}

func TestSearch(t *testing.T) {
	h := newHarness(t, Config{})
	for i := 0; i < 3; i++ {
		h.must("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%d","displayName":"Team %d"}`, i, i), 201)
	}
	for i := 0; i < 2; i++ {
		h.must("POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Team %d"}`, i+10), 201)
	}
	got := h.must("POST", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName sw \"user\"","attributes":["userName"],"sortBy":"userName","sortOrder":"descending","startIndex":1,"count":2}`, 200)
	if got["totalResults"] != json.Number("3") || got["itemsPerPage"] != json.Number("2") {
		t.Fatalf("search: %v", got)
	}
	if r := got["Resources"].([]any)[0].(map[string]any); r["userName"] != "user2" || r["meta"] != nil {
		t.Errorf("first result %v", r)
	}
	// At the root, paging runs across Users then Groups.
	got = h.must("POST", "/.search", `{"filter":"displayName sw \"team\"","startIndex":3,"count":2}`, 200)
	if got["totalResults"] != json.Number("5") || got["itemsPerPage"] != json.Number("2") {
		t.Fatalf("root search: %v", got)
	}
	rs := got["Resources"].([]any)
	if rs[0].(map[string]any)["userName"] != "user2" || rs[1].(map[string]any)["displayName"] != "Team 10" {
		t.Errorf("root search page: %v", rs)
	}
	w, m := h.do("POST", "/.search", `{"filter":"displayName sw","count":2}`)
	if w.Code != 400 || m["scimType"] != "invalidFilter" {
		t.Errorf("bad filter in search: %d %v", w.Code, m)
	}
	w, m = h.do("POST", "/.search", `{"bogus":1}`)
	if w.Code != 400 || m["scimType"] != "invalidSyntax" {
		t.Errorf("unknown search field: %d %v", w.Code, m)
	}
}

func TestCountIsClampedToMaxResults(t *testing.T) {
	h := newHarness(t, Config{MaxResults: 2})
	for i := 0; i < 3; i++ {
		h.must("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d"}`, i), 201)
	}
	got := h.must("GET", "/Users?count=50", "", 200)
	if got["itemsPerPage"] != json.Number("2") || got["totalResults"] != json.Number("3") {
		t.Errorf("clamped page: %v", got)
	}
	got = h.must("GET", "/Users?count=-5&startIndex=-3", "", 200)
	if got["itemsPerPage"] != json.Number("0") || got["startIndex"] != json.Number("1") {
		t.Errorf("negative count and startIndex: %v", got)
	}
	spc := h.must("GET", "/ServiceProviderConfig", "", 200)
	if spc["filter"].(map[string]any)["maxResults"] != json.Number("2") {
		t.Errorf("maxResults not advertised: %v", spc["filter"])
	}
}

func TestDiscoveryEndpoints(t *testing.T) {
	h := newHarness(t, Config{})
	got := h.must("GET", "/Schemas", "", 200)
	if got["totalResults"] != json.Number("3") {
		t.Errorf("schemas total %v", got["totalResults"])
	}
	got = h.must("GET", "/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "", 200)
	if got["name"] != "EnterpriseUser" || got["meta"].(map[string]any)["location"] != "https://scim.example.com/scim/v2/acme/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" {
		t.Errorf("schema by id: %v", got["meta"])
	}
	got = h.must("GET", "/ResourceTypes/Group", "", 200)
	if got["endpoint"] != "/Groups" {
		t.Errorf("resource type: %v", got)
	}
	h.must("GET", "/ResourceTypes/Widget", "", 404)
	h.must("POST", "/Schemas", "{}", 405)
}

// TestNeverA500 throws malformed requests at every endpoint.
func TestNeverA500(t *testing.T) {
	h := newHarness(t, Config{})
	uid := h.must("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`, 201)["id"].(string)
	gid := h.must("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g"}`, 201)["id"].(string)
	bodies := []string{"", "null", "[]", "{", `{"userName":null}`, `{"Operations":null}`, `{"Operations":[{}]}`,
		`{"Operations":[{"op":"add","path":"members","value":"x"}]}`, `{"Operations":[{"op":"add","path":"members[","value":1}]}`,
		`{"userName":"a","emails":[{"value":{"x":1}}]}`, `{"displayName":["x"]}`, "\x00\xff", strings.Repeat("[", 100000)}
	paths := []string{"/Users", "/Users/" + uid, "/Groups", "/Groups/" + gid, "/.search", "/Users/.search", "/Users/" + strings.Repeat("x", 500),
		"/Users?filter=" + strings.Repeat("(", 5000), "/Users?sortBy=%5B", "/Users?attributes=%5B%5D", "/Users/a/b/c", "/"}
	for _, p := range paths {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			for _, b := range bodies {
				r := httptest.NewRequest(m, "https://scim.example.com/scim/v2/acme"+p, strings.NewReader(b))
				w := httptest.NewRecorder()
				h.h.ServeHTTP(w, r)
				if w.Code >= 500 && w.Code != http.StatusNotImplemented {
					t.Errorf("%s %s %q: %d %s", m, p, clip(b), w.Code, w.Body)
				}
				if w.Code >= 400 {
					var e scimerr.Body
					raw, _ := io.ReadAll(w.Body)
					if err := json.Unmarshal(raw, &e); err != nil || e.Schemas[0] != scimerr.ErrorSchema || e.Status != fmt.Sprint(w.Code) {
						t.Errorf("%s %s: error body %q", m, p, raw)
					}
				}
			}
		}
	}
}
