package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// doWith sends a request with extra header fields.
func (h *harness) doWith(method, path, body string, header map[string]string) *httptest.ResponseRecorder {
	h.t.Helper()
	r := httptest.NewRequest(method, "https://scim.example.com/scim/v2/acme"+path, strings.NewReader(body))
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, r)
	return w
}

// journalLen counts the tenant's journal events, to prove a refused write
// wrote nothing.
func (h *harness) journalLen() int {
	h.t.Helper()
	evs, err := h.st.Journal(context.Background(), "acme", 0, 1<<20)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(evs)
}

func TestParseETags(t *testing.T) {
	tests := []struct {
		name    string
		values  []string
		version string
		want    bool
	}{
		{"weak matches weak", []string{`W/"3"`}, `W/"3"`, true},
		{"strong matches weak", []string{`"3"`}, `W/"3"`, true},
		{"other version", []string{`W/"4"`}, `W/"3"`, false},
		{"star", []string{`*`}, `W/"3"`, true},
		{"list", []string{` W/"1" , "2",W/"3" `}, `W/"3"`, true},
		{"list without a match", []string{`W/"1", "2"`}, `W/"3"`, false},
		{"several lines", []string{`W/"1"`, `"3"`}, `W/"3"`, true},
		{"unquoted", []string{`3`}, `W/"3"`, true},
		{"prefix only", []string{`W/`}, `W/"3"`, false},
		{"unterminated", []string{`"3`}, `W/"3"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseETags(tt.values).matches(tt.version); got != tt.want {
				t.Errorf("%q matches %s = %v, want %v", tt.values, tt.version, got, tt.want)
			}
		})
	}
	if parseETags(nil) != nil {
		t.Error("an absent field parsed to a set")
	}
}

func TestIfNoneMatch(t *testing.T) {
	h := newHarness(t, Config{})
	w, m := h.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`)
	id, etag := m["id"].(string), w.Header().Get("ETag")
	if etag == "" {
		t.Fatal("POST 201 without ETag")
	}
	tests := []struct {
		name   string
		header string
		status int
	}{
		{"current", etag, http.StatusNotModified},
		{"strong form", strings.TrimPrefix(etag, "W/"), http.StatusNotModified},
		{"star", "*", http.StatusNotModified},
		{"stale", `W/"0"`, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.doWith("GET", "/Users/"+id, "", map[string]string{"If-None-Match": tt.header})
			if w.Code != tt.status || w.Header().Get("ETag") != etag {
				t.Fatalf("%d with ETag %q, want %d with %q: %s", w.Code, w.Header().Get("ETag"), tt.status, etag, w.Body)
			}
			if tt.status == http.StatusNotModified && w.Body.Len() != 0 {
				t.Errorf("304 with a body: %s", w.Body)
			}
		})
	}
}

func TestIfMatch(t *testing.T) {
	tests := []struct {
		method, body string
		status       int
	}{
		{"PUT", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b"}`, http.StatusOK},
		{"PATCH", `{"Operations":[{"op":"replace","path":"title","value":"T"}]}`, http.StatusNoContent},
		{"DELETE", "", http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			h := newHarness(t, Config{})
			w, m := h.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`)
			id, etag := m["id"].(string), w.Header().Get("ETag")
			h.must("PATCH", "/Users/"+id, `{"Operations":[{"op":"replace","path":"displayName","value":"D"}]}`, 204)
			before := h.journalLen()

			w = h.doWith(tt.method, "/Users/"+id, tt.body, map[string]string{"If-Match": etag})
			if w.Code != http.StatusPreconditionFailed || !strings.Contains(w.Body.String(), "GET it again") {
				t.Fatalf("stale If-Match: %d %s", w.Code, w.Body)
			}
			if w.Header().Get("ETag") != "" {
				t.Errorf("412 carries an ETag")
			}
			if n := h.journalLen(); n != before {
				t.Fatalf("a refused %s wrote %d journal events", tt.method, n-before)
			}
			cur := h.doWith("GET", "/Users/"+id, "", nil).Header().Get("ETag")
			w = h.doWith(tt.method, "/Users/"+id, tt.body, map[string]string{"If-Match": `W/"999", ` + strings.TrimPrefix(cur, "W/")})
			if w.Code != tt.status {
				t.Fatalf("current If-Match: %d %s", w.Code, w.Body)
			}
			if tt.method != "DELETE" {
				if got := w.Header().Get("ETag"); got == "" || got == cur {
					t.Errorf("ETag after a write = %q, was %q", got, cur)
				}
			}
			if h.journalLen() == before {
				t.Error("the write was not journaled")
			}
		})
	}
}

func TestIfMatchStarNeedsAResource(t *testing.T) {
	h := newHarness(t, Config{})
	w := h.doWith("DELETE", "/Users/nope", "", map[string]string{"If-Match": "*"})
	if w.Code != http.StatusNotFound {
		t.Errorf("If-Match * on a missing user: %d", w.Code)
	}
	id := h.must("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`, 201)["id"].(string)
	if w := h.doWith("PUT", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a2"}`, map[string]string{"If-Match": "*"}); w.Code != http.StatusOK {
		t.Errorf("If-Match * on an existing user: %d %s", w.Code, w.Body)
	}
}

// TestConcurrentIfMatch sends two PATCHes with the same If-Match at once:
// the check runs inside the store's write, so exactly one wins.
func TestConcurrentIfMatch(t *testing.T) {
	h := newHarness(t, Config{})
	for round := 0; round < 20; round++ {
		w, m := h.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G`+string(rune('a'+round))+`"}`)
		id, etag := m["id"].(string), w.Header().Get("ETag")
		codes := make([]int, 2)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				body := `{"Operations":[{"op":"replace","path":"externalId","value":"x` + string(rune('0'+i)) + `"}]}`
				codes[i] = h.doWith("PATCH", "/Groups/"+id, body, map[string]string{"If-Match": etag}).Code
			}(i)
		}
		wg.Wait()
		won := 0
		for _, c := range codes {
			switch c {
			case http.StatusNoContent:
				won++
			case http.StatusPreconditionFailed:
			default:
				t.Fatalf("round %d: status %d", round, c)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d PATCHes won, want exactly 1 (%v)", round, won, codes)
		}
	}
}

func TestServiceProviderConfigAdvertises(t *testing.T) {
	h := newHarness(t, Config{MaxResults: 200, CursorTTL: 90e9})
	m := h.must("GET", "/ServiceProviderConfig", "", 200)
	if m["etag"].(map[string]any)["supported"] != true {
		t.Errorf("etag = %v", m["etag"])
	}
	p := m["pagination"].(map[string]any)
	want := map[string]string{"cursor": "true", "index": "true", "defaultPaginationMethod": "index",
		"defaultPageSize": "200", "maxPageSize": "200", "cursorTimeout": "90"}
	for k, v := range want {
		if got, _ := stringify(p[k]); strings.Trim(got, `"`) != v {
			t.Errorf("pagination.%s = %v, want %s", k, p[k], v)
		}
	}
}
