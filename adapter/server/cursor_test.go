package server

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// cursorPage is one page of a cursor walk.
type cursorPage struct {
	ids        []string
	next, prev string
	total      int
}

func (h *harness) cursorPage(path string) cursorPage {
	h.t.Helper()
	m := h.must("GET", path, "", 200)
	if _, ok := m["startIndex"]; ok {
		h.t.Errorf("%s: a cursor page has startIndex", path)
	}
	var p cursorPage
	for _, r := range m["Resources"].([]any) {
		p.ids = append(p.ids, r.(map[string]any)["id"].(string))
	}
	p.next, _ = m["nextCursor"].(string)
	p.prev, _ = m["previousCursor"].(string)
	fmt.Sscan(fmt.Sprint(m["totalResults"]), &p.total)
	return p
}

func createUsers(h *harness, from, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.must("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%04d"}`, from+i), 201)["id"].(string)
	}
	return ids
}

func TestCursorWalk(t *testing.T) {
	h := newHarness(t, Config{})
	ids := createUsers(h, 0, 250)
	var seen []string
	var pages []cursorPage
	for c, first := "", true; first || c != ""; first = false {
		p := h.cursorPage("/Users?count=100&cursor=" + url.QueryEscape(c))
		if p.total != 250 {
			t.Fatalf("totalResults %d", p.total)
		}
		if (p.prev == "") != first {
			t.Errorf("page %d: previousCursor %q", len(pages), p.prev)
		}
		seen = append(seen, p.ids...)
		pages = append(pages, p)
		c = p.next
	}
	if len(pages) != 3 || strings.Join(seen, ",") != strings.Join(ids, ",") {
		t.Fatalf("%d pages, %d users, in order: %v", len(pages), len(seen), strings.Join(seen, ",") == strings.Join(ids, ","))
	}
	// previousCursor walks back to the same pages.
	back := h.cursorPage("/Users?count=100&cursor=" + pages[2].prev)
	if strings.Join(back.ids, ",") != strings.Join(pages[1].ids, ",") || back.next == "" || back.prev == "" {
		t.Errorf("previous of the last page is not the middle page")
	}
	back = h.cursorPage("/Users?count=100&cursor=" + back.prev)
	if strings.Join(back.ids, ",") != strings.Join(pages[0].ids, ",") || back.prev != "" {
		t.Errorf("walking back did not reach the first page")
	}
}

// TestCursorUnderChange deletes and creates users between pages: every user
// that exists throughout is seen exactly once.
func TestCursorUnderChange(t *testing.T) {
	h := newHarness(t, Config{})
	ids := createUsers(h, 0, 250)
	deleted := map[string]bool{}
	count := map[string]int{}
	c, n := "", 0
	for {
		p := h.cursorPage("/Users?count=100&cursor=" + url.QueryEscape(c))
		for _, id := range p.ids {
			count[id]++
		}
		if p.next == "" {
			break
		}
		c = p.next
		// Delete users on both sides of the cursor and add new ones.
		for _, i := range []int{n*100 + 10, n*100 + 150} {
			id := ids[min(i, len(ids)-1)]
			if deleted[id] {
				continue
			}
			h.must("DELETE", "/Users/"+id, "", 204)
			deleted[id] = true
		}
		createUsers(h, 1000+n*10, 5)
		n++
	}
	for _, id := range ids {
		switch {
		case count[id] > 1:
			t.Errorf("user %s seen %d times", id, count[id])
		case count[id] == 0 && !deleted[id]:
			t.Errorf("surviving user %s never seen", id)
		}
	}
}

func TestCursorSearch(t *testing.T) {
	h := newHarness(t, Config{})
	users := createUsers(h, 0, 3)
	var groups []string
	for i := 0; i < 3; i++ {
		groups = append(groups, h.must("POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g%d"}`, i), 201)["id"].(string))
	}
	// At the root, pages run across Users and then Groups.
	var seen []string
	c := ""
	for i := 0; ; i++ {
		m := h.must("POST", "/.search", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"count":2,"cursor":%q}`, c), 200)
		for _, r := range m["Resources"].([]any) {
			seen = append(seen, r.(map[string]any)["id"].(string))
		}
		next, _ := m["nextCursor"].(string)
		if next == "" {
			break
		}
		c = next
	}
	if want := strings.Join(append(users, groups...), ","); strings.Join(seen, ",") != want {
		t.Errorf("root search saw %v", seen)
	}
	// Back from the last page, across the type boundary.
	m := h.must("POST", "/.search", fmt.Sprintf(`{"count":2,"cursor":%q}`, c), 200)
	prev := m["previousCursor"].(string)
	m = h.must("POST", "/.search", fmt.Sprintf(`{"count":2,"cursor":%q}`, prev), 200)
	rs := m["Resources"].([]any)
	if len(rs) != 2 || rs[0].(map[string]any)["id"] != users[2] || rs[1].(map[string]any)["id"] != groups[0] {
		t.Errorf("previous page across types = %v", rs)
	}
}

func TestCursorErrors(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	h := newHarness(t, Config{Now: func() time.Time { return now }, CursorTTL: time.Minute})
	createUsers(h, 0, 5)
	next := h.cursorPage("/Users?count=2&cursor=&filter=" + url.QueryEscape(`userName sw "u"`)).next
	tampered := []byte(next)
	tampered[len(tampered)/2] ^= 1
	other := newHarness(t, Config{})
	createUsers(other, 0, 2)
	otherNext := other.cursorPage("/Users?count=1&cursor=").next
	tests := []struct {
		name     string
		path     string
		scimType string
	}{
		{"tampered", "/Users?count=2&cursor=" + string(tampered) + "&filter=" + url.QueryEscape(`userName sw "u"`), "invalidCursor"},
		{"garbage", "/Users?cursor=%25%25", "invalidCursor"},
		{"other filter", "/Users?count=2&cursor=" + next + "&filter=" + url.QueryEscape(`userName sw "x"`), "invalidCursor"},
		{"no filter", "/Users?count=2&cursor=" + next, "invalidCursor"},
		{"other endpoint", "/Groups?count=2&cursor=" + next + "&filter=" + url.QueryEscape(`displayName sw "u"`), "invalidCursor"},
		{"other key", "/Users?cursor=" + otherNext, "invalidCursor"},
		{"sortBy", "/Users?cursor=&sortBy=userName", "invalidValue"},
		{"startIndex", "/Users?cursor=&startIndex=2", "invalidValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := h.must("GET", tt.path, "", 400)
			if m["scimType"] != tt.scimType {
				t.Errorf("scimType %v, want %s: %v", m["scimType"], tt.scimType, m["detail"])
			}
		})
	}
	ok := "/Users?count=2&cursor=" + next + "&filter=" + url.QueryEscape(`userName  sw  "u"`)
	if p := h.cursorPage(ok); len(p.ids) != 2 {
		t.Fatalf("the same filter, spaced differently: %v", p.ids)
	}
	now = now.Add(time.Minute)
	if m := h.must("GET", ok, "", 400); m["scimType"] != "expiredCursor" {
		t.Errorf("expired cursor: %v", m)
	}
}

// TestIndexPaginationUnchanged pins the index response shape.
func TestIndexPaginationUnchanged(t *testing.T) {
	h := newHarness(t, Config{})
	createUsers(h, 0, 3)
	m := h.must("GET", "/Users?startIndex=2&count=1", "", 200)
	if fmt.Sprint(m["startIndex"]) != "2" || fmt.Sprint(m["totalResults"]) != "3" || m["nextCursor"] != nil || m["previousCursor"] != nil {
		t.Errorf("index page = %v", m)
	}
}
