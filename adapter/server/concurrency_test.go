package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentGroupPatches sends membership PATCHes to one group from
// many clients at once, in both Entra dialects, and checks that every
// membership that was acknowledged is there and no other was lost.
func TestConcurrentGroupPatches(t *testing.T) {
	h := newHarness(t, Config{})
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.must("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d"}`, i), 201)["id"].(string)
	}
	g := h.must("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G"}`, 201)["id"].(string)
	// Members 0..n/2 start in the group; the goroutines add the rest and
	// remove the even ones among the first half.
	var first []string
	for _, id := range ids[:n/2] {
		first = append(first, `{"value":"`+id+`"}`)
	}
	h.must("PATCH", "/Groups/"+g, `{"Operations":[{"op":"Add","path":"members","value":[`+strings.Join(first, ",")+`]}]}`, 204)

	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var body string
			switch {
			case i >= n/2:
				body = `{"Operations":[{"op":"Add","path":"members","value":[{"value":"` + ids[i] + `"}]},{"op":"Replace","path":"externalId","value":"x` + fmt.Sprint(i) + `"}]}`
			case i%2 == 0 && i%4 == 0:
				body = `{"Operations":[{"op":"Remove","path":"members","value":[{"value":"` + ids[i] + `"}]}]}`
			case i%2 == 0:
				body = `{"Operations":[{"op":"remove","path":"members[value eq \"` + ids[i] + `\"]"}]}`
			default:
				return
			}
			r := httptest.NewRequest(http.MethodPatch, "https://scim.example.com/scim/v2/acme/Groups/"+g, strings.NewReader(body))
			w := httptest.NewRecorder()
			h.h.ServeHTTP(w, r)
			if w.Code != http.StatusNoContent {
				t.Errorf("PATCH %d: %d %s", i, w.Code, w.Body)
			}
		}(i)
	}
	wg.Wait()
	got := map[string]bool{}
	for _, m := range h.must("GET", "/Groups/"+g, "", 200)["members"].([]any) {
		got[m.(map[string]any)["value"].(string)] = true
	}
	for i, id := range ids {
		want := i >= n/2 || i%2 == 1
		if got[id] != want {
			t.Errorf("member %d: present=%v, want %v", i, got[id], want)
		}
	}
}
