package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/scimjson"
	"github.com/caddy-scim/caddy-scim/adapter/server"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

func TestParseMix(t *testing.T) {
	m, err := parseMix("")
	if err != nil || m != defaultMix || m.total() != 100 {
		t.Fatalf("default: %v %v, total %d", m, err, m.total())
	}
	m, err = parseMix(" filter=3, create=1 ")
	if err != nil || m[opFilter] != 3 || m[opCreate] != 1 || m.total() != 4 {
		t.Fatalf("filter=3,create=1: %v %v", m, err)
	}
	if got, err := parseMix(defaultMix.String()); err != nil || got != defaultMix {
		t.Fatalf("String does not parse back: %q → %v %v", defaultMix.String(), got, err)
	}
	for _, bad := range []string{"filter", "fetch=1", "get=-1", "get=x", "get=1,get=2", "get=0"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) accepted", bad)
		}
	}
}

// Every number in [0, total) maps to an operation, each exactly as often
// as its weight, and a zero weight is never chosen.
func TestPickFollowsWeights(t *testing.T) {
	m := mix{3, 0, 2, 0, 5, 1, 0}
	var got mix
	for n := range m.total() {
		got[m.pick(n)]++
	}
	if got != m {
		t.Fatalf("pick over [0,%d): %v, want %v", m.total(), got, m)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var drawn [numOps]int
	for range 100000 {
		drawn[defaultMix.draw(rng)]++
	}
	for o, w := range defaultMix {
		share := float64(drawn[o]) / 1000 // percent
		if d := share - float64(w); d > 0.6 || d < -0.6 {
			t.Errorf("%s drawn %.2f%%, weight %d%%", op(o), share, w)
		}
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want int
	}{{0.5, 50}, {0.99, 99}, {0.29, 29}, {1, 100}, {0.001, 1}, {0.995, 100}} {
		if got := quantile(d, c.q); got != time.Duration(c.want)*time.Millisecond {
			t.Errorf("q%v of 1..100 ms = %v, want %d ms", c.q, got, c.want)
		}
	}
	if got := quantile(d[:1], 0.99); got != time.Millisecond {
		t.Errorf("q0.99 of one sample = %v", got)
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("q0.5 of nothing = %v", got)
	}
	// p99 of 10 samples is the largest; p50 the fifth.
	if got := quantile(d[:10], 0.99); got != 10*time.Millisecond {
		t.Errorf("q0.99 of 1..10 ms = %v", got)
	}
	if got := quantile(d[:10], 0.5); got != 5*time.Millisecond {
		t.Errorf("q0.5 of 1..10 ms = %v", got)
	}
}

func TestTally(t *testing.T) {
	var a, b tally
	a.add(3*time.Millisecond, 200, nil, false)
	a.add(1*time.Millisecond, 404, nil, false)
	b.add(2*time.Millisecond, 0, context.DeadlineExceeded, false)
	b.add(4*time.Millisecond, 204, nil, true)
	a.merge(&b)
	s := a.stats("get", 2*time.Second)
	if s.Requests != 4 || s.PerSec != 2 || s.P50ms != 2 || s.Maxms != 4 || s.Wrong != 1 {
		t.Errorf("stats = %+v", s)
	}
	if len(s.Non2xx) != 2 || s.Non2xx["404"] != 1 || s.Non2xx["transport error"] != 1 {
		t.Errorf("non-2xx = %v", s.Non2xx)
	}
	if got := statuses(s.Non2xx); got != "404×1 transport error×1" {
		t.Errorf("statuses = %q", got)
	}
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("100000, 2000,10_000,2000")
	if err != nil || len(got) != 3 || got[0] != 2000 || got[1] != 10000 || got[2] != 100000 {
		t.Fatalf("parseSizes: %v %v", got, err)
	}
	for _, bad := range []string{"", "x", "10", "2000,-1"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) accepted", bad)
		}
	}
}

func TestStatFieldsAndRSS(t *testing.T) {
	line := "4242 (caddy (x) y) S 17 4242 4242 0 -1 4194560 1 0 0 0 1234 567 3 4 20 0 12 0 100 1 2\n"
	pid, ppid, ticks, err := statFields(line)
	if err != nil || pid != 4242 || ppid != 17 || ticks != 1801 {
		t.Fatalf("statFields = %d %d %d %v", pid, ppid, ticks, err)
	}
	if _, _, _, err := statFields("4242 caddy S 1"); err == nil {
		t.Error("a stat line without (comm) was accepted")
	}
	status := "Name:\tcaddy\nVmPeak:\t  900 kB\nVmHWM:\t   90000 kB\nVmRSS:\t   81234 kB\nRssAnon:\t 1 kB\nRssFile:\t  81233 kB\n"
	if rss, anon, file, peak := statusKiB(status, "VmRSS"), statusKiB(status, "RssAnon"), statusKiB(status, "RssFile"), statusKiB(status, "VmHWM"); rss != 81234 || anon != 1 || file != 81233 || peak != 90000 {
		t.Errorf("statusKiB = %d %d %d %d", rss, anon, file, peak)
	}
	if got := statusKiB("Name:\tkthreadd\n", "VmRSS"); got != 0 {
		t.Errorf("VmRSS of a kernel thread = %d", got)
	}
	if rss, _, _, _ := memKiB(os.Getpid()); rss <= 0 {
		t.Errorf("memKiB of this process = %d", rss)
	}
	if _, n, err := treeTicks(1 << 30); err == nil || n != 0 {
		t.Error("treeTicks of a missing process succeeded")
	}
}

func TestCaddyfile(t *testing.T) {
	s := site{Dir: "/tmp/a b", Admin: 2019, Port: 8443, Options: []string{"cache_size 32MiB"}}
	got := s.caddyfile()
	for _, want := range []string{"admin localhost:2019", "\t\tcache_size 32MiB\n", "storage file_system `/tmp/a b/caddy`", "local_certs", "storage_dir `/tmp/a b/scim`", "localhost:8443 {", "bind 127.0.0.1", "\t\ttenant bench\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("Caddyfile lacks %q:\n%s", want, got)
		}
	}
	s.Backend = "pharos"
	if got := s.caddyfile(); !strings.Contains(got, "tenant bench {\n\t\t\tbackend pharos\n") {
		t.Errorf("no backend block:\n%s", got)
	}
	s.Respond, s.RespondCT = `{"totalResults":1}`, "application/scim+json"
	got = s.caddyfile()
	if !strings.Contains(got, "respond `{\"totalResults\":1}` 200") || !strings.Contains(got, "header Content-Type application/scim+json") ||
		strings.Contains(got, "storage_dir") || strings.Contains(got, "tenant") {
		t.Errorf("baseline Caddyfile:\n%s", got)
	}
}

func TestForEach(t *testing.T) {
	seen := make([]int, 50)
	if err := forEach(10, 50, 7, func(i int) error { seen[i]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for i, n := range seen {
		if want := map[bool]int{true: 1, false: 0}[i >= 10]; n != want {
			t.Fatalf("job %d ran %d times", i, n)
		}
	}
	err := forEach(0, 1000, 4, func(i int) error {
		if i == 3 {
			return context.Canceled
		}
		return nil
	})
	if err != context.Canceled {
		t.Fatalf("forEach error = %v", err)
	}
}

// Every body the tool sends passes the server's strict JSON decoder.
func TestBodiesDecode(t *testing.T) {
	p := newPerson("000007", 7)
	p.ManagerID = "m-1"
	for name, b := range map[string][]byte{
		"create":  createBody(p),
		"put":     putBody(p, "id-1"),
		"patch":   entraPatchBody(p),
		"group":   groupBody("Group 00001"),
		"members": addMembersBody([]string{"a", "b"}),
		"remove":  removeMembersBody([]string{"a", "b"}),
	} {
		if _, err := scimjson.DecodeObject(b); err != nil {
			t.Errorf("%s body refused: %v\n%s", name, err, b)
		}
	}
	var u map[string]any
	_ = json.Unmarshal(createBody(p), &u)
	ent, _ := u[schemaEnterprise].(map[string]any)
	if u["userName"] != "user000007@bench.example" || ent["department"] == nil || ent["manager"] == nil {
		t.Errorf("create body: %v", u)
	}
	q, _ := url.ParseQuery(strings.TrimPrefix(filterQuery(p.userName()), "/Users?"))
	if q.Get("filter") != `userName eq "user000007@bench.example"` {
		t.Errorf("filter query: %q", q.Get("filter"))
	}
}

// The whole client side — preloading, then every operation of the mix —
// against the server's own SCIM handler over TLS: nothing but 2xx, and
// every lookup finds its user.
func TestAgainstServer(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := server.New(server.Config{Store: st}).Handler(tenant, "/scim/v2/"+tenant)
	ts := httptest.NewTLSServer(h)
	defer ts.Close()
	port, _ := strconv.Atoi(ts.URL[strings.LastIndexByte(ts.URL, ':')+1:])
	c := newSCIM(port, &tls.Config{InsecureSkipVerify: true}, 8, "unused")
	ctx := context.Background()

	d := &directory{}
	var steps []string
	for _, n := range []int{120, 250} {
		if err := d.grow(ctx, c, n, 8, func(s string) { steps = append(steps, s) }); err != nil {
			t.Fatal(err)
		}
	}
	if len(d.ids) != 250 || len(d.groups) != 2 || strings.Join(steps, ",") != "1 users,15 users,120 users,1 groups,250 users,2 groups" {
		t.Fatalf("grow: %d users, %d groups, steps %v", len(d.ids), len(d.groups), steps)
	}
	if n, err := totalUsers(ctx, c); err != nil || n != 250 {
		t.Fatalf("users in the store: %d %v", n, err)
	}
	// A manager is set, and always an earlier user.
	status, b, _ := c.do(ctx, "GET", "/Users/"+d.ids[200], nil)
	if status != 200 || !strings.Contains(string(b), d.ids[managerOf(200)]) {
		t.Fatalf("user 200 lacks its manager %s: %d %s", d.ids[managerOf(200)], status, b)
	}
	status, b, _ = c.do(ctx, "GET", "/Groups/"+d.groups[1], nil)
	var g struct {
		Members []jsonRef `json:"members"`
	}
	if status != 200 || json.Unmarshal(b, &g) != nil || len(g.Members) != usersPerGroup {
		t.Fatalf("group 1: %d, %d members", status, len(g.Members))
	}

	w := &worker{rng: rand.New(rand.NewPCG(3, 4))}
	for o := range numOps {
		for range 20 {
			w.step(ctx, c, d, o, "t")
		}
	}
	for o := range numOps {
		s := w.tallies[o].stats(o.String(), time.Second)
		if s.Requests != 20 || len(s.Non2xx) != 0 || s.Wrong != 0 {
			t.Errorf("%s: %+v", o, s)
		}
	}
	// remove and delete undid the member adds and creates before them.
	if len(d.made) != 0 || len(d.added) != 0 {
		t.Errorf("left to undo: %d users, %d member adds", len(d.made), len(d.added))
	}
	if n, err := totalUsers(ctx, c); err != nil || n != 250 {
		t.Errorf("users after creates and deletes: %d %v", n, err)
	}
	for g := range d.groups {
		_, b, _ := c.do(ctx, "GET", "/Groups/"+d.groups[g], nil)
		var got struct {
			Members []jsonRef `json:"members"`
		}
		if json.Unmarshal(b, &got) != nil || len(got.Members) > usersPerGroup {
			t.Errorf("group %d has %d members after the removes", g, len(got.Members))
		}
	}
	// With nothing left to undo, a remove stops the worker.
	w.step(ctx, c, d, opRemove, "t")
	if !w.exhausted {
		t.Error("a remove with nothing to undo did not stop the worker")
	}
	// The lookup check does tell a miss from a hit.
	status, b, _ = c.do(ctx, "GET", filterQuery("nobody@bench.example"), nil)
	if status != http.StatusOK || strings.Contains(string(b), `"totalResults":1,`) {
		t.Errorf("lookup of nobody: %d %s", status, b)
	}
	// Entra's "False" is stored as the boolean.
	p := d.people[5]
	p.Active = false
	if err := c.ok2xx(ctx, "PATCH", "/Users/"+d.ids[5], entraPatchBody(p)); err != nil {
		t.Fatal(err)
	}
	if _, b, _ = c.do(ctx, "GET", "/Users/"+d.ids[5], nil); !strings.Contains(string(b), `"active":false`) {
		t.Errorf("after Replace active \"False\": %s", b)
	}
}
