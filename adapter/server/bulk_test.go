package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// bulkRequest wraps operations, a JSON array's elements, in a BulkRequest
// message; failOnErrors 0 leaves it out.
func bulkRequest(failOnErrors int, ops string) string {
	foe := ""
	if failOnErrors != 0 {
		foe = fmt.Sprintf(`"failOnErrors":%d,`, failOnErrors)
	}
	return `{"schemas":["` + BulkRequestURN + `"],` + foe + `"Operations":[` + ops + `]}`
}

// bulk sends a bulk request that must succeed as a whole and returns the
// entries of the response.
func (h *harness) bulk(body string) []map[string]any {
	h.t.Helper()
	m := h.must("POST", "/Bulk", body, http.StatusOK)
	if s, _ := m["schemas"].([]any); len(s) != 1 || s[0] != BulkResponseURN {
		h.t.Fatalf("BulkResponse schemas = %v", m["schemas"])
	}
	arr, ok := m["Operations"].([]any)
	if !ok {
		h.t.Fatalf("BulkResponse without Operations: %v", m)
	}
	out := make([]map[string]any, len(arr))
	for i, el := range arr {
		out[i] = el.(map[string]any)
	}
	return out
}

// journal returns the kinds of the tenant's journal events, in order.
func (h *harness) journal() []string {
	h.t.Helper()
	evs, err := h.st.Journal(context.Background(), "acme", 0, 10000)
	if err != nil {
		h.t.Fatal(err)
	}
	kinds := make([]string, len(evs))
	for i, ev := range evs {
		kinds[i] = string(ev.Kind)
	}
	return kinds
}

// idAt returns the id at the end of a response entry's location.
func idAt(t *testing.T, entry map[string]any) string {
	t.Helper()
	loc, _ := entry["location"].(string)
	i := strings.LastIndexByte(loc, '/')
	if i < 0 {
		t.Fatalf("entry without location: %v", entry)
	}
	return loc[i+1:]
}

// detail returns the detail of a failed entry's error response.
func detail(entry map[string]any) string {
	resp, _ := entry["response"].(map[string]any)
	d, _ := resp["detail"].(string)
	return d
}

// memberIDs returns the member ids of a group, sorted.
func memberIDs(h *harness, group string) []string {
	h.t.Helper()
	g := h.must("GET", "/Groups/"+group, "", http.StatusOK)
	var ids []string
	ms, _ := g["members"].([]any)
	for _, m := range ms {
		ids = append(ids, m.(map[string]any)["value"].(string))
	}
	slices.Sort(ids)
	return ids
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestBulk(t *testing.T) {
	const enterprise = schema.EnterpriseUserURN
	tests := []struct {
		name string
		cfg  Config
		// before prepares the store and returns variables for {{name}} in
		// ops.
		before       func(h *harness) map[string]string
		failOnErrors int
		ops          string
		// want are the statuses of the response entries, in order.
		want []string
		// wantDetail are substrings of the error details of entries.
		wantDetail map[int]string
		check      func(t *testing.T, h *harness, got []map[string]any)
	}{
		{
			name: "users then a group of them",
			ops: `{"method":"POST","path":"/Users","bulkId":"u1","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice"}},
				{"method":"POST","path":"/Users","bulkId":"u2","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob"}},
				{"method":"POST","path":"/Groups","bulkId":"g","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"bulkId:u1"},{"value":"bulkId:u2","type":"User"}]}}`,
			want: []string{"201", "201", "201"},
			check: func(t *testing.T, h *harness, got []map[string]any) {
				for i, id := range []string{"u1", "u2", "g"} {
					if got[i]["bulkId"] != id || got[i]["method"] != "POST" || got[i]["version"] == nil {
						t.Errorf("entry %d = %v", i, got[i])
					}
				}
				if m := memberIDs(h, idAt(t, got[2])); !slices.Equal(m, sorted(idAt(t, got[0]), idAt(t, got[1]))) {
					t.Errorf("members = %v", m)
				}
			},
		},
		{
			name: "group before its users",
			ops: `{"method":"POST","path":"/Groups","bulkId":"g","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"bulkId:u1"},{"value":"bulkId:u2"}]}},
				{"method":"POST","path":"/Users","bulkId":"u1","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice"}},
				{"method":"POST","path":"/Users","bulkId":"u2","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob"}}`,
			want: []string{"201", "201", "201"},
			check: func(t *testing.T, h *harness, got []map[string]any) {
				if got[0]["bulkId"] != "g" {
					t.Errorf("entries are not in request order: %v", got)
				}
				if m := memberIDs(h, idAt(t, got[0])); !slices.Equal(m, sorted(idAt(t, got[1]), idAt(t, got[2]))) {
					t.Errorf("members = %v", m)
				}
			},
		},
		{
			name: "manager by bulkId",
			ops: `{"method":"POST","path":"/Users","bulkId":"e","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"emp","` + enterprise + `":{"manager":{"value":"bulkId:boss"}}}},
				{"method":"POST","path":"/Users","bulkId":"boss","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"boss"}}`,
			want: []string{"201", "201"},
			check: func(t *testing.T, h *harness, got []map[string]any) {
				u := h.must("GET", "/Users/"+idAt(t, got[0]), "", http.StatusOK)
				ext, _ := u[enterprise].(map[string]any)
				mgr, _ := ext["manager"].(map[string]any)
				if mgr["value"] != idAt(t, got[1]) {
					t.Errorf("manager = %v, want %s", mgr, idAt(t, got[1]))
				}
			},
		},
		{
			name: "reference to a failed POST",
			ops: `{"method":"POST","path":"/Users","bulkId":"u1","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"displayName":"no userName"}},
				{"method":"POST","path":"/Groups","bulkId":"g","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"bulkId:u1"}]}},
				{"method":"POST","path":"/Users","bulkId":"u2","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob"}}`,
			want:       []string{"400", "400", "201"},
			wantDetail: map[int]string{1: `bulkId "u1" refers to operation 1, a POST that failed`},
			check: func(t *testing.T, h *harness, got []map[string]any) {
				if _, ok := got[0]["location"]; ok {
					t.Errorf("failed POST has a location: %v", got[0])
				}
				if resp := got[1]["response"].(map[string]any); resp["scimType"] != scimerr.InvalidValue {
					t.Errorf("response = %v", resp)
				}
			},
		},
		{
			name:       "reference to no POST",
			ops:        `{"method":"PATCH","path":"/Users/bulkId:ghost","data":{"Operations":[{"op":"replace","path":"title","value":"T"}]}}`,
			want:       []string{"400"},
			wantDetail: map[int]string{0: `bulkId "ghost" is not the bulkId of any POST`},
		},
		{
			name: "circular references",
			ops: `{"method":"POST","path":"/Groups","bulkId":"a","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"A","members":[{"value":"bulkId:b","type":"Group"}]}},
				{"method":"POST","path":"/Groups","bulkId":"b","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"B","members":[{"value":"bulkId:a","type":"Group"}]}},
				{"method":"POST","path":"/Groups","bulkId":"c","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"C","members":[{"value":"bulkId:a","type":"Group"}]}},
				{"method":"POST","path":"/Groups","bulkId":"self","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"S","members":[{"value":"bulkId:self","type":"Group"}]}},
				{"method":"POST","path":"/Users","bulkId":"u","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u"}}`,
			want: []string{"409", "409", "400", "409", "201"},
			wantDetail: map[int]string{
				0: `bulkIds "a", "b" refer to each other in a circle`,
				1: `bulkIds "a", "b" refer to each other in a circle`,
				2: `bulkId "a" refers to operation 1, a POST that failed`,
				3: `bulkIds "self" refer to each other`,
			},
		},
		{
			name: "circle through a longer path",
			ops: `{"method":"POST","path":"/Groups","bulkId":"a","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"A","members":[{"value":"bulkId:c"},{"value":"bulkId:b"}]}},
				{"method":"POST","path":"/Groups","bulkId":"b","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"B","members":[{"value":"bulkId:c"}]}},
				{"method":"POST","path":"/Groups","bulkId":"c","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"C","members":[{"value":"bulkId:a"}]}}`,
			want: []string{"409", "409", "409"},
		},
		{
			name:         "failOnErrors 1 stops at the first error",
			failOnErrors: 1,
			ops: `{"method":"POST","path":"/Users","bulkId":"bad","data":{}},
				{"method":"POST","path":"/Users","bulkId":"u1","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice"}},
				{"method":"POST","path":"/Users","bulkId":"u2","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob"}}`,
			want: []string{"400"},
			check: func(t *testing.T, h *harness, _ []map[string]any) {
				if j := h.journal(); len(j) != 0 {
					t.Errorf("operations after the error ran: %v", j)
				}
			},
		},
		{
			name:         "failOnErrors 2 stops at the second error",
			failOnErrors: 2,
			ops: `{"method":"POST","path":"/Users","bulkId":"bad1","data":{}},
				{"method":"POST","path":"/Users","bulkId":"u1","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice"}},
				{"method":"DELETE","path":"/Users/nobody"},
				{"method":"POST","path":"/Users","bulkId":"u2","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob"}}`,
			want: []string{"400", "201", "404"},
		},
		{
			name: "PATCH, PUT and DELETE with bulkIds in the path",
			ops: `{"method":"POST","path":"/Users","bulkId":"u","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u"}},
				{"method":"POST","path":"/Users","bulkId":"v","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"v"}},
				{"method":"POST","path":"/Users","bulkId":"w","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"w"}},
				{"method":"POST","path":"/Groups","bulkId":"g","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G"}},
				{"method":"patch","path":"/Groups/bulkId:g","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"bulkId:u"}]}]}},
				{"method":"Patch","path":"/Users/bulkId:u","data":{"Operations":[{"op":"Replace","value":{"title":"T"}}]}},
				{"method":"put","path":"/Users/bulkId:w","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"w2"}},
				{"method":"delete","path":"/Users/bulkId:v","bulkId":"del"}`,
			want: []string{"201", "201", "201", "201", "204", "204", "200", "204"},
			check: func(t *testing.T, h *harness, got []map[string]any) {
				u, v, w, g := idAt(t, got[0]), idAt(t, got[1]), idAt(t, got[2]), idAt(t, got[3])
				if m := memberIDs(h, g); !slices.Equal(m, []string{u}) {
					t.Errorf("members = %v", m)
				}
				if title := h.must("GET", "/Users/"+u, "", http.StatusOK)["title"]; title != "T" {
					t.Errorf("title = %v", title)
				}
				if name := h.must("GET", "/Users/"+w, "", http.StatusOK)["userName"]; name != "w2" {
					t.Errorf("userName = %v", name)
				}
				h.must("GET", "/Users/"+v, "", http.StatusNotFound)
				for i, want := range []string{g, u, w, v} {
					e := got[4+i]
					if idAt(t, e) != want || !strings.HasPrefix(e["location"].(string), "https://scim.example.com/scim/v2/acme/") {
						t.Errorf("entry %d location %v, want …/%s", 4+i, e["location"], want)
					}
				}
				if got[4]["method"] != "PATCH" || got[7]["bulkId"] != "del" {
					t.Errorf("method or bulkId not echoed: %v %v", got[4], got[7])
				}
			},
		},
		{
			name: "operations on existing resources",
			before: func(h *harness) map[string]string {
				u := h.must("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"old"}`, http.StatusCreated)["id"].(string)
				g := h.must("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"old"}`, http.StatusCreated)["id"].(string)
				return map[string]string{"u": u, "g": g}
			},
			ops: `{"method":"PATCH","path":"/Users/{{u}}","data":{"Operations":[{"op":"replace","path":"active","value":"False"}]}},
				{"method":"DELETE","path":"/Groups/{{g}}"},
				{"method":"DELETE","path":"/Groups/{{g}}"}`,
			want: []string{"204", "204", "404"},
		},
		{
			name: "uniqueness conflicts",
			before: func(h *harness) map[string]string {
				h.must("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"taken"}`, http.StatusCreated)
				return nil
			},
			ops: `{"method":"POST","path":"/Users","bulkId":"t","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"TAKEN"}},
				{"method":"POST","path":"/Users","bulkId":"d1","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"dup"}},
				{"method":"POST","path":"/Users","bulkId":"d2","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"dup"}}`,
			want: []string{"409", "201", "409"},
			check: func(t *testing.T, h *harness, got []map[string]any) {
				for _, i := range []int{0, 2} {
					if resp := got[i]["response"].(map[string]any); resp["scimType"] != scimerr.Uniqueness || resp["status"] != "409" {
						t.Errorf("entry %d response = %v", i, resp)
					}
				}
			},
		},
		{
			name: "Config.Validate applies to each operation",
			cfg: Config{Validate: func(_ context.Context, _ string, rt *schema.ResourceType, res map[string]any) error {
				if rt == schema.User && res["title"] == nil {
					return scimerr.BadRequest(scimerr.InvalidValue, "every user needs a title")
				}
				return nil
			}},
			ops: `{"method":"POST","path":"/Users","bulkId":"a","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}},
				{"method":"POST","path":"/Users","bulkId":"b","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b","title":"T"}},
				{"method":"PATCH","path":"/Users/bulkId:b","data":{"Operations":[{"op":"remove","path":"title"}]}}`,
			want:       []string{"400", "201", "400"},
			wantDetail: map[int]string{0: "every user needs a title", 2: "every user needs a title"},
		},
		{
			name: "version is the precondition of the operation",
			before: func(h *harness) map[string]string {
				u := h.must("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"v"}`, http.StatusCreated)
				return map[string]string{"u": u["id"].(string), "version": u["meta"].(map[string]any)["version"].(string)}
			},
			ops: `{"method":"PUT","path":"/Users/{{u}}","version":"W/\"999\"","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"v2"}},
				{"method":"PUT","path":"/Users/{{u}}","version":{{version_json}},"data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"v3"}}`,
			want: []string{"412", "200"},
			check: func(t *testing.T, h *harness, got []map[string]any) {
				u := h.must("GET", "/Users/"+idAt(t, got[1]), "", http.StatusOK)
				if u["userName"] != "v3" || got[1]["version"] != u["meta"].(map[string]any)["version"] {
					t.Errorf("user %v, entry %v", u, got[1])
				}
			},
		},
		{
			name: "bulkIds used twice",
			ops: `{"method":"POST","path":"/Users","bulkId":"x","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}},
				{"method":"POST","path":"/Users","bulkId":"x","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b"}},
				{"method":"PATCH","path":"/Users/bulkId:x","data":{"Operations":[{"op":"replace","path":"title","value":"first"}]}}`,
			want:       []string{"201", "400", "204"},
			wantDetail: map[int]string{1: `bulkId "x" is already used by operation 1`},
		},
		{
			name: "no operations",
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			ops := tt.ops
			if tt.before != nil {
				for k, v := range tt.before(h) {
					b, _ := json.Marshal(v)
					ops = strings.ReplaceAll(ops, "{{"+k+"_json}}", string(b))
					ops = strings.ReplaceAll(ops, "{{"+k+"}}", v)
				}
			}
			got := h.bulk(bulkRequest(tt.failOnErrors, ops))
			var statuses []string
			for _, e := range got {
				statuses = append(statuses, e["status"].(string))
			}
			if !slices.Equal(statuses, tt.want) {
				t.Fatalf("statuses %v, want %v: %v", statuses, tt.want, got)
			}
			for i, e := range got {
				code := e["status"].(string)
				resp, hasResp := e["response"].(map[string]any)
				if code >= "400" {
					if !hasResp || resp["status"] != code || resp["schemas"].([]any)[0] != scimerr.ErrorSchema {
						t.Errorf("entry %d: failure without an error response: %v", i, e)
					}
				} else if hasResp {
					t.Errorf("entry %d: success with a response: %v", i, e)
				}
			}
			for i, want := range tt.wantDetail {
				if d := detail(got[i]); !strings.Contains(d, want) {
					t.Errorf("entry %d detail %q, want it to contain %q", i, d, want)
				}
			}
			if tt.check != nil {
				tt.check(t, h, got)
			}
		})
	}
}

// TestBulkJournalsLikeSingleRequests runs the same writes one by one and as
// one bulk request: the journals must hold the same events.
func TestBulkJournalsLikeSingleRequests(t *testing.T) {
	single := newHarness(t, Config{})
	a := single.must("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`, http.StatusCreated)["id"].(string)
	b := single.must("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b","active":true}`, http.StatusCreated)["id"].(string)
	g := single.must("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"`+a+`"},{"value":"`+b+`"}]}`, http.StatusCreated)["id"].(string)
	single.must("PATCH", "/Users/"+b, `{"Operations":[{"op":"replace","path":"active","value":false}]}`, http.StatusNoContent)
	single.must("PATCH", "/Groups/"+g, `{"Operations":[{"op":"remove","path":"members[value eq \"`+a+`\"]"}]}`, http.StatusNoContent)
	single.must("PUT", "/Users/"+a, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a2"}`, http.StatusOK)
	single.must("DELETE", "/Users/"+b, "", http.StatusNoContent)

	bulk := newHarness(t, Config{})
	got := bulk.bulk(bulkRequest(0, `
		{"method":"POST","path":"/Users","bulkId":"a","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}},
		{"method":"POST","path":"/Users","bulkId":"b","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b","active":true}},
		{"method":"POST","path":"/Groups","bulkId":"g","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[{"value":"bulkId:a"},{"value":"bulkId:b"}]}},
		{"method":"PATCH","path":"/Users/bulkId:b","data":{"Operations":[{"op":"replace","path":"active","value":false}]}},
		{"method":"PATCH","path":"/Groups/bulkId:g","data":{"Operations":[{"op":"remove","path":"members[value eq \"bulkId:a\"]"}]}},
		{"method":"PUT","path":"/Users/bulkId:a","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a2"}},
		{"method":"DELETE","path":"/Users/bulkId:b"}`))
	for i, e := range got {
		if e["status"].(string) >= "400" {
			t.Fatalf("entry %d failed: %v", i, e)
		}
	}
	want, have := single.journal(), bulk.journal()
	if len(have) < len(got) || !slices.Equal(have, want) {
		t.Errorf("bulk journal %v, want %v", have, want)
	}
}

func TestBulkLimits(t *testing.T) {
	op := `{"method":"POST","path":"/Users","bulkId":"%d","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%d"}}`
	ops := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf(op, i, i)
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		name       string
		cfg        Config
		body       string
		status     int
		wantDetail string
	}{
		{"too many operations", Config{BulkMaxOperations: 2}, bulkRequest(0, ops(3)), http.StatusRequestEntityTooLarge, "maxOperations is 2"},
		{"as many operations as allowed", Config{BulkMaxOperations: 2}, bulkRequest(0, ops(2)), http.StatusOK, ""},
		{"default operation limit", Config{}, bulkRequest(0, ops(DefaultMaxBulkOperations+1)), http.StatusRequestEntityTooLarge, "maxOperations is 1000"},
		{"payload too large", Config{BulkMaxPayloadSize: 200}, bulkRequest(0, ops(3)), http.StatusRequestEntityTooLarge, "maxPayloadSize, 200 bytes"},
		{"payload over the default", Config{}, bulkRequest(0, `{"method":"POST","path":"/Users","bulkId":"x","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+strings.Repeat("x", DefaultMaxBulkPayloadSize)+`"}}`), http.StatusRequestEntityTooLarge, "maxPayloadSize"},
		{"payload limit replaces the body limit", Config{MaxBodyBytes: 100, BulkMaxPayloadSize: 10000}, bulkRequest(0, ops(5)), http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			w, m := h.do("POST", "/Bulk", tt.body)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %.300s", w.Code, tt.status, w.Body)
			}
			if tt.status == http.StatusOK {
				return
			}
			if m["status"] != "413" || !strings.Contains(fmt.Sprint(m["detail"]), tt.wantDetail) {
				t.Errorf("error %v, want detail with %q", m, tt.wantDetail)
			}
			if j := h.journal(); len(j) != 0 {
				t.Errorf("a refused bulk request wrote %v", j)
			}
		})
	}
}

func TestBulkServiceProviderConfig(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		ops, size int
	}{
		{"defaults", Config{}, DefaultMaxBulkOperations, DefaultMaxBulkPayloadSize},
		{"configured", Config{BulkMaxOperations: 50, BulkMaxPayloadSize: 4096}, 50, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			b := h.must("GET", "/ServiceProviderConfig", "", http.StatusOK)["bulk"].(map[string]any)
			if b["supported"] != true || b["maxOperations"] != json.Number(fmt.Sprint(tt.ops)) || b["maxPayloadSize"] != json.Number(fmt.Sprint(tt.size)) {
				t.Errorf("bulk = %v, want %d operations of %d bytes", b, tt.ops, tt.size)
			}
		})
	}
}

// TestBulkMalformed sends broken bulk requests: the request as a whole, or
// one operation, is refused with a SCIM error and never a 5xx.
func TestBulkMalformed(t *testing.T) {
	whole := []struct {
		name, method, path, body string
		status                   int
	}{
		{"not JSON", "POST", "/Bulk", `{"Operations":[`, 400},
		{"empty body", "POST", "/Bulk", ``, 400},
		{"an array", "POST", "/Bulk", `[]`, 400},
		{"no Operations", "POST", "/Bulk", `{"schemas":["` + BulkRequestURN + `"]}`, 400},
		{"Operations not an array", "POST", "/Bulk", `{"Operations":{"method":"POST"}}`, 400},
		{"wrong schemas", "POST", "/Bulk", `{"schemas":["` + schema.PatchOpURN + `"],"Operations":[]}`, 400},
		{"schemas not an array", "POST", "/Bulk", `{"schemas":"x","Operations":[]}`, 400},
		{"failOnErrors 0", "POST", "/Bulk", `{"failOnErrors":0,"Operations":[]}`, 400},
		{"failOnErrors negative", "POST", "/Bulk", `{"failOnErrors":-1,"Operations":[]}`, 400},
		{"failOnErrors fractional", "POST", "/Bulk", `{"failOnErrors":1.5,"Operations":[]}`, 400},
		{"failOnErrors an object", "POST", "/Bulk", `{"failOnErrors":{},"Operations":[]}`, 400},
		{"unknown attribute", "POST", "/Bulk", `{"Operations":[],"atomic":true}`, 400},
		{"GET", "GET", "/Bulk", ``, 405},
		{"below /Bulk", "POST", "/Bulk/1", `{"Operations":[]}`, 404},
		{"schemas missing", "POST", "/Bulk", `{"failOnErrors":null,"Operations":[]}`, 200},
	}
	for _, tt := range whole {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			w, m := h.do(tt.method, tt.path, tt.body)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if w.Code >= 400 && (m["status"] != fmt.Sprint(tt.status) || m["detail"] == "") {
				t.Errorf("error body %v", m)
			}
		})
	}

	ops := []struct {
		name, op string
		status   string
	}{
		{"not an object", `"POST /Users"`, "400"},
		{"null", `null`, "400"},
		{"no method", `{"path":"/Users","bulkId":"a","data":{"userName":"a"}}`, "400"},
		{"method GET", `{"method":"GET","path":"/Users"}`, "400"},
		{"method a number", `{"method":1,"path":"/Users"}`, "400"},
		{"no path", `{"method":"POST","bulkId":"a","data":{"userName":"a"}}`, "400"},
		{"path a number", `{"method":"DELETE","path":7}`, "400"},
		{"unknown endpoint", `{"method":"POST","path":"/Widgets","bulkId":"a","data":{}}`, "400"},
		{"discovery endpoint", `{"method":"POST","path":"/Schemas","bulkId":"a","data":{}}`, "400"},
		{"nested bulk", `{"method":"POST","path":"/Bulk","bulkId":"a","data":{"Operations":[]}}`, "400"},
		{"too deep", `{"method":"DELETE","path":"/Users/a/b"}`, "400"},
		{"empty id", `{"method":"DELETE","path":"/Users/"}`, "400"},
		{"search", `{"method":"PUT","path":"/Users/.search","data":{}}`, "400"},
		{"query", `{"method":"POST","path":"/Users?attributes=id","bulkId":"a","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}}`, "400"},
		{"POST to a resource", `{"method":"POST","path":"/Users/1","bulkId":"a","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}}`, "400"},
		{"PUT to an endpoint", `{"method":"PUT","path":"/Users","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}}`, "400"},
		{"POST without bulkId", `{"method":"POST","path":"/Users","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}}`, "400"},
		{"bulkId a number", `{"method":"POST","path":"/Users","bulkId":1,"data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}}`, "400"},
		{"version a number", `{"method":"DELETE","path":"/Users/1","version":1}`, "400"},
		{"data missing", `{"method":"PATCH","path":"/Users/1"}`, "400"},
		{"data a string", `{"method":"POST","path":"/Users","bulkId":"a","data":"userName=a"}`, "400"},
		{"data an array", `{"method":"PUT","path":"/Users/1","data":[{"userName":"a"}]}`, "400"},
		{"data null", `{"method":"POST","path":"/Users","bulkId":"a","data":null}`, "400"},
		{"unknown attribute", `{"method":"DELETE","path":"/Users/1","atomic":true}`, "400"},
		{"invalid resource", `{"method":"POST","path":"/Users","bulkId":"a","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":["a"]}}`, "400"},
		{"PATCH without Operations", `{"method":"PATCH","path":"/Users/1","data":{"op":"add"}}`, "400"},
		{"PATCH of nobody", `{"method":"PATCH","path":"/Users/1","data":{"Operations":[{"op":"add","path":"title","value":"T"}]}}`, "404"},
		{"DELETE of nobody", `{"method":"DELETE","path":"/Groups/1","data":"ignored"}`, "404"},
		{"bulkId prefix alone", `{"method":"DELETE","path":"/Users/bulkId:"}`, "400"},
	}
	for _, tt := range ops {
		t.Run("operation "+tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			got := h.bulk(bulkRequest(0, tt.op+`,{"method":"POST","path":"/Users","bulkId":"ok","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ok"}}`))
			if len(got) != 2 || got[0]["status"] != tt.status || got[1]["status"] != "201" {
				t.Fatalf("statuses: %v", got)
			}
			if resp, _ := got[0]["response"].(map[string]any); resp["status"] != tt.status || detail(got[0]) == "" {
				t.Errorf("error response %v", got[0]["response"])
			}
		})
	}
}

// FuzzBulk sends arbitrary bulk requests: whatever arrives, neither the
// request nor any of its operations is answered with a 5xx.
func FuzzBulk(f *testing.F) {
	seeds := []string{
		bulkRequest(0, `{"method":"POST","path":"/Users","bulkId":"u","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}},{"method":"POST","path":"/Groups","bulkId":"g","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g","members":[{"value":"bulkId:u"}]}}`),
		bulkRequest(1, `{"method":"PATCH","path":"/Groups/bulkId:g","data":{"Operations":[{"op":"add","path":"members","value":[{"value":"bulkId:u"}]}]}},{"method":"POST","path":"/Groups","bulkId":"g","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g"}}`),
		bulkRequest(0, `{"method":"POST","path":"/Groups","bulkId":"a","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"a","members":[{"value":"bulkId:a"}]}},{"method":"DELETE","path":"/Users/bulkId:a"}`),
		bulkRequest(0, `{"method":"PUT","path":"/Users/bulkId:x","version":"W/\"1\"","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bulkId:x"}},{"method":"POST","path":"/Users","bulkId":"x","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x"}}`),
		`{"Operations":[{"method":"delete","path":"/Users/bulkId:"},{}]}`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	h := New(Config{Store: st, BulkMaxOperations: 20, BulkMaxPayloadSize: 16 << 10}).Handler("acme", "/scim/v2/acme")
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "https://scim.example.com/scim/v2/acme/Bulk", strings.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%q: %d %s", body, w.Code, w.Body)
		}
		if w.Code != http.StatusOK {
			return
		}
		var resp struct {
			Operations []struct {
				Status string `json:"status"`
			}
		}
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("%q: response %s", body, w.Body)
		}
		for _, op := range resp.Operations {
			if op.Status == "" || op.Status >= "500" {
				t.Fatalf("%q: operation status %q: %s", body, op.Status, w.Body)
			}
		}
	})
}
