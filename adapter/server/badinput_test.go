package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// The bad-input regression suite: malformed, mistyped, oversized and
// look-alike requests, each of which must be refused with the right status
// and a SCIM error body, and must leave the tenant exactly as it was: the
// same users and groups (full JSON, meta.version included), the same
// memberships and the same journal head.
//
// Cases by class (TestBadInputCaseCounts keeps this list true):
//
//	members       139
//	json          102
//	identifiers   116
//	types          71
//	limits         25
//	discovery       9
//	patch          38
//	headers        30
//	methods        26
//	paths          24
//	query          42
//	bulk           37
//	total         659

// badCase is one request that must be refused.
type badCase struct {
	class, name string
	method      string
	// path is below the tenant's base; body is sent verbatim. Both may hold
	// the placeholders of badHarness.vars.
	path, body string
	// header replaces the default request headers (Content-Type
	// application/scim+json when there is a body); a value "" removes one.
	header map[string]string
	// status is the HTTP status, or with opStatus set, the status of every
	// operation of a /Bulk response (whose HTTP status is 200).
	status int
	// scimType is the expected scimType; alternatives are separated by "|"
	// where RFC 7644 leaves the choice open. Empty: not checked.
	scimType string
	// bulkOps marks a /Bulk request that is accepted as a message but
	// whose operations all fail with status and scimType; opCount, when
	// not 0, is how many operations the response lists.
	bulkOps bool
	opCount int
}

// Body-limit settings of the suite's server. Bulk payloads share the
// single-request limit so that a body over it is refused at /Bulk too.
const (
	badMaxBody = 1 << 20
	badBulkMax = 5
)

// badHarness is a tenant seeded with users and groups, served by the
// handler over an in-memory store.
type badHarness struct {
	t  *testing.T
	st *store.Badger
	h  http.Handler
	// vars are the placeholders of the cases: ids and versions of the seed.
	vars map[string]string
}

func newBadHarness(t *testing.T) *badHarness {
	b := &badHarness{t: t}
	b.reset()
	t.Cleanup(func() { b.st.Close() })
	return b
}

// reset replaces the store with a freshly seeded one.
func (b *badHarness) reset() {
	b.t.Helper()
	if b.st != nil {
		b.st.Close()
	}
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		b.t.Fatal(err)
	}
	b.st = st
	b.h = New(Config{Store: st, MaxBodyBytes: badMaxBody, BulkMaxPayloadSize: badMaxBody, BulkMaxOperations: badBulkMax}).Handler("acme", "/scim/v2/acme")
	b.seed()
}

const (
	userURN    = schema.UserURN
	groupURN   = schema.GroupURN
	patchURN   = schema.PatchOpURN
	enterprise = schema.EnterpriseUserURN
	// missingID names no resource.
	missingID = "2819c223-7f76-453a-919d-413861904646"
)

// seed creates the users and groups the cases work against. The
// user names are the originals that look-alikes must collide with.
func (b *badHarness) seed() {
	b.t.Helper()
	b.vars = map[string]string{"{missing}": missingID}
	user := func(key, body string) {
		m := b.must("POST", "/Users", body, http.StatusCreated)
		b.vars[key] = m["id"].(string)
	}
	user("{bj}", `{"schemas":["`+userURN+`","`+enterprise+`"],"userName":"bjensen@example.com","externalId":"bjensen",
		"name":{"givenName":"Barbara","familyName":"Jensen"},"title":"Tour Guide","active":true,
		"emails":[{"value":"bjensen@example.com","type":"work","primary":true}],
		"`+enterprise+`":{"employeeNumber":"701984","department":"Tours"}}`)
	user("{rn}", `{"schemas":["`+userURN+`"],"userName":"renée@example.com","name":{"givenName":"Renée","familyName":"Noël"},
		"emails":[{"value":"renée@example.com","type":"work"}]}`)
	user("{kim}", `{"schemas":["`+userURN+`"],"userName":"kim@example.com","active":true}`)
	user("{str}", `{"schemas":["`+userURN+`"],"userName":"strasse@example.com"}`)
	user("{ody}", `{"schemas":["`+userURN+`"],"userName":"ΟΔΥΣΣΕΥΣ@example.com"}`)
	// A stale version: bjensen's before a change.
	b.vars["{bjstale}"] = b.version("/Users/" + b.vars["{bj}"])
	b.vars["{bjstaleJ}"] = jq(b.vars["{bjstale}"])[1 : len(jq(b.vars["{bjstale}"]))-1]
	b.must("PATCH", "/Users/"+b.vars["{bj}"], `{"schemas":["`+patchURN+`"],"Operations":[{"op":"replace","path":"title","value":"Senior Tour Guide"}]}`, http.StatusNoContent)
	b.vars["{bjv}"] = b.version("/Users/" + b.vars["{bj}"])

	group := func(key, body string) {
		m := b.must("POST", "/Groups", b.expand(body), http.StatusCreated)
		b.vars[key] = m["id"].(string)
	}
	group("{g1}", `{"schemas":["`+groupURN+`"],"displayName":"Printers","members":[{"value":"{bj}"},{"value":"{rn}"}]}`)
	group("{g2}", `{"schemas":["`+groupURN+`"],"displayName":"Café Staff","members":[{"value":"{kim}"},{"value":"{g1}","type":"Group"}]}`)
	b.vars["{g1v}"] = b.version("/Groups/" + b.vars["{g1}"])
}

func (b *badHarness) version(path string) string {
	b.t.Helper()
	m := b.must("GET", path, "", http.StatusOK)
	v, _ := m["meta"].(map[string]any)["version"].(string)
	if v == "" {
		b.t.Fatalf("%s has no meta.version", path)
	}
	return v
}

// expand replaces the placeholders in s.
func (b *badHarness) expand(s string) string {
	pairs := make([]string, 0, 2*len(b.vars))
	for k, v := range b.vars {
		pairs = append(pairs, k, v)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// send serves one request. header nil sends Content-Type
// application/scim+json with a body.
func (b *badHarness) send(method, path, body string, header map[string]string) *httptest.ResponseRecorder {
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	r := httptest.NewRequest(method, "https://scim.example.com/scim/v2/acme"+path, rd)
	if body != "" {
		r.Header.Set("Content-Type", MediaType)
	}
	for k, v := range header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	return w
}

func (b *badHarness) must(method, path, body string, status int) map[string]any {
	b.t.Helper()
	w := b.send(method, path, body, nil)
	if w.Code != status {
		b.t.Fatalf("seeding: %s %s: %d, want %d: %s", method, path, w.Code, status, w.Body)
	}
	var m map[string]any
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			b.t.Fatalf("seeding: %s %s: %v", method, path, err)
		}
	}
	return m
}

// tenantSnapshot is everything a rejected request must leave unchanged.
type tenantSnapshot struct {
	Users   []string
	Groups  []string
	Members map[string][]string
	Head    uint64
}

func (b *badHarness) snapshot() tenantSnapshot {
	b.t.Helper()
	ctx := context.Background()
	var s tenantSnapshot
	s.Members = map[string][]string{}
	for _, rt := range []*schema.ResourceType{schema.User, schema.Group} {
		page, err := b.st.List(ctx, "acme", rt, store.Query{Count: 1 << 20})
		if err != nil {
			b.t.Fatal(err)
		}
		for _, res := range page.Resources {
			raw, err := json.Marshal(res)
			if err != nil {
				b.t.Fatal(err)
			}
			if rt == schema.User {
				s.Users = append(s.Users, string(raw))
				continue
			}
			s.Groups = append(s.Groups, string(raw))
			id, _ := res["id"].(string)
			ms, err := b.st.Members(ctx, "acme", id)
			if err != nil {
				b.t.Fatal(err)
			}
			ids := []string{}
			for _, m := range ms {
				ids = append(ids, m.Value+" "+m.Type)
			}
			slices.Sort(ids)
			s.Members[id] = ids
		}
	}
	sort.Strings(s.Users)
	sort.Strings(s.Groups)
	head, err := b.st.LastSeq(ctx, "acme")
	if err != nil {
		b.t.Fatal(err)
	}
	s.Head = head
	return s
}

// diff describes how two snapshots differ.
func (s tenantSnapshot) diff(after tenantSnapshot) string {
	var out []string
	if s.Head != after.Head {
		out = append(out, fmt.Sprintf("journal head %d → %d", s.Head, after.Head))
	}
	for _, l := range []struct {
		what          string
		before, after []string
	}{{"users", s.Users, after.Users}, {"groups", s.Groups, after.Groups}} {
		for _, x := range l.before {
			if !slices.Contains(l.after, x) {
				out = append(out, fmt.Sprintf("%s: gone or changed: %s", l.what, clipDiff(x)))
			}
		}
		for _, x := range l.after {
			if !slices.Contains(l.before, x) {
				out = append(out, fmt.Sprintf("%s: new or changed: %s", l.what, clipDiff(x)))
			}
		}
	}
	if !reflect.DeepEqual(s.Members, after.Members) {
		out = append(out, fmt.Sprintf("members %v → %v", s.Members, after.Members))
	}
	return strings.Join(out, "\n")
}

func clipDiff(s string) string { return scimerr.Clip(s, 400) }

// maxDetail bounds an error detail: it names the place of a problem and
// never repeats a large part of the request.
const maxDetail = 1024

// checkError checks a SCIM error body (RFC 7644 §3.12) of status, with
// the scimType want ("" unchecked, alternatives separated by "|").
func checkError(t *testing.T, where string, raw []byte, status int, want string) {
	t.Helper()
	var e map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&e); err != nil {
		t.Errorf("%s: error body is not a JSON object: %q", where, clipDiff(string(raw)))
		return
	}
	schemas, _ := e["schemas"].([]any)
	if !slices.Contains(schemas, any(scimerr.ErrorSchema)) {
		t.Errorf("%s: schemas %v lack %s", where, e["schemas"], scimerr.ErrorSchema)
	}
	if s, ok := e["status"].(string); !ok || s != strconv.Itoa(status) {
		t.Errorf("%s: status %#v, want the string %q", where, e["status"], strconv.Itoa(status))
	}
	if d, ok := e["detail"].(string); !ok || strings.TrimSpace(d) == "" {
		t.Errorf("%s: no detail: %s", where, raw)
	} else if len(d) > maxDetail {
		t.Errorf("%s: a detail of %d bytes; details quote at most a clipped part of the request", where, len(d))
	}
	if want != "" {
		got, _ := e["scimType"].(string)
		if !slices.Contains(strings.Split(want, "|"), got) {
			t.Errorf("%s: scimType %q, want %s (detail %q)", where, got, want, e["detail"])
		}
	}
}

// run sends c and checks its answer and that nothing changed; when
// something did, the tenant is seeded afresh for the next case.
func (b *badHarness) run(t *testing.T, c badCase) {
	t.Helper()
	before := b.snapshot()
	w := b.send(c.method, b.expand(c.path), b.expand(c.body), expandHeader(b, c.header))
	raw := w.Body.Bytes()
	want := c.status
	if c.bulkOps {
		want = http.StatusOK
	}
	if w.Code != want {
		t.Errorf("status %d, want %d: %s", w.Code, want, clipDiff(string(raw)))
	}
	if ct := w.Header().Get("Content-Type"); ct != MediaType {
		t.Errorf("Content-Type %q, want %s", ct, MediaType)
	}
	switch {
	case c.bulkOps && w.Code == http.StatusOK:
		b.checkBulkOps(t, raw, c)
	case w.Code >= 400:
		checkError(t, "response", raw, w.Code, c.scimType)
		for _, h := range []string{"ETag", "Location"} {
			if v := w.Header().Get(h); v != "" {
				t.Errorf("an error response with %s %q", h, v)
			}
		}
	}
	if w.Code == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "" {
		t.Error("405 without an Allow header")
	}
	if w.Code >= 500 && w.Code != http.StatusNotImplemented {
		t.Errorf("server error %d", w.Code)
	}
	if after := b.snapshot(); !reflect.DeepEqual(before, after) {
		t.Errorf("a rejected request changed the tenant:\n%s", before.diff(after))
		b.reset()
	}
}

func expandHeader(b *badHarness, h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = b.expand(v)
	}
	return out
}

// checkBulkOps checks that every operation of a BulkResponse failed as c
// expects.
func (b *badHarness) checkBulkOps(t *testing.T, raw []byte, c badCase) {
	t.Helper()
	var resp struct {
		Schemas    []string `json:"schemas"`
		Operations []struct {
			Method   string          `json:"method"`
			Status   string          `json:"status"`
			Response json.RawMessage `json:"response"`
		} `json:"Operations"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Errorf("BulkResponse: %v: %s", err, clipDiff(string(raw)))
		return
	}
	if len(resp.Schemas) != 1 || resp.Schemas[0] != BulkResponseURN {
		t.Errorf("BulkResponse schemas %v", resp.Schemas)
	}
	if len(resp.Operations) == 0 || (c.opCount != 0 && len(resp.Operations) != c.opCount) {
		t.Errorf("BulkResponse lists %d operations, want %d: %s", len(resp.Operations), c.opCount, clipDiff(string(raw)))
	}
	for i, op := range resp.Operations {
		where := fmt.Sprintf("operation %d (%s)", i+1, op.Method)
		if op.Status != strconv.Itoa(c.status) {
			t.Errorf("%s: status %q, want %d: %s", where, op.Status, c.status, clipDiff(string(op.Response)))
		}
		if n, err := strconv.Atoi(op.Status); err == nil && n >= 400 {
			checkError(t, where, op.Response, n, c.scimType)
		}
	}
}

// TestBadInput runs every case of badInputCases against one seeded tenant.
func TestBadInput(t *testing.T) {
	b := newBadHarness(t)
	for _, c := range badInputCases() {
		t.Run(c.class+"/"+c.name, func(t *testing.T) {
			b.t = t
			b.run(t, c)
		})
	}
}

// TestBadInputCaseCounts keeps the counts in the comment at the top of
// this file true and the suite at 300 cases or more, with unique names.
func TestBadInputCaseCounts(t *testing.T) {
	src, err := os.ReadFile("badinput_test.go")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^//\t(\w+) +(\d+)$`).FindAllStringSubmatch(string(src), -1) {
		listed[m[1]], _ = strconv.Atoi(m[2])
	}
	got := map[string]int{}
	names := map[string]bool{}
	for _, c := range badInputCases() {
		got[c.class]++
		n := c.class + "/" + c.name
		if names[n] {
			t.Errorf("two cases named %q", n)
		}
		names[n] = true
		if c.status == 0 || c.method == "" {
			t.Errorf("%s: no status or method", n)
		}
	}
	total := 0
	for class, n := range got {
		total += n
		if listed[class] != n {
			t.Errorf("class %s has %d cases; the comment says %d", class, n, listed[class])
		}
	}
	for class := range listed {
		if got[class] == 0 && class != "total" {
			t.Errorf("the comment lists class %s, which has no cases", class)
		}
	}
	if listed["total"] != total {
		t.Errorf("%d cases in all; the comment says %d", total, listed["total"])
	}
	if total < 300 {
		t.Errorf("%d cases; the suite keeps at least 300", total)
	}
	t.Logf("%d cases: %v", total, got)
}

// TestBadInputLookAlikesFindOriginal is the other side of the look-alike
// cases: a filter, case-insensitive as userName and displayName are, finds
// the original by each look-alike form, and a PATCH value path selects it.
// These are accepted requests and not counted in the suite.
func TestBadInputLookAlikesFindOriginal(t *testing.T) {
	b := newBadHarness(t)
	find := func(t *testing.T, endpoint, filter string) []string {
		t.Helper()
		w := b.send("GET", endpoint+"?filter="+urlq(filter), "", nil)
		if w.Code != http.StatusOK {
			t.Fatalf("filter %s: %d %s", filter, w.Code, w.Body)
		}
		var lr struct {
			Resources []struct {
				ID string `json:"id"`
			} `json:"Resources"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &lr); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range lr.Resources {
			ids = append(ids, r.ID)
		}
		return ids
	}
	for _, l := range lookAlikes {
		t.Run("userName eq/"+l.name, func(t *testing.T) {
			want := []string{b.vars[l.of]}
			if got := find(t, "/Users", "userName eq "+jq(l.value)); !slices.Equal(got, want) {
				t.Errorf("userName eq %s found %v, want %v", jq(l.value), got, want)
			}
		})
		t.Run("userName sw/"+l.name, func(t *testing.T) {
			local, _, _ := strings.Cut(l.value, "@")
			if local == l.value {
				local, _, _ = strings.Cut(l.value, "＠")
			}
			want := []string{b.vars[l.of]}
			if got := find(t, "/Users", "userName sw "+jq(local)); !slices.Equal(got, want) {
				t.Errorf("userName sw %s found %v, want %v", jq(local), got, want)
			}
		})
	}
	for _, l := range groupLookAlikes {
		t.Run("displayName eq/"+l.name, func(t *testing.T) {
			want := []string{b.vars[l.of]}
			if got := find(t, "/Groups", "displayName eq "+jq(l.value)); !slices.Equal(got, want) {
				t.Errorf("displayName eq %s found %v, want %v", jq(l.value), got, want)
			}
		})
	}
	t.Run("PATCH value path", func(t *testing.T) {
		w := b.send("PATCH", "/Users/"+b.vars["{bj}"], patchOps(op("replace", `emails[value eq "ＢＪＥＮＳＥＮ@EXAMPLE.COM"].type`, `"home"`)), nil)
		if w.Code != http.StatusNoContent {
			t.Fatalf("PATCH through a look-alike value path: %d %s", w.Code, w.Body)
		}
		u := b.must("GET", "/Users/"+b.vars["{bj}"], "", http.StatusOK)
		if e := u["emails"].([]any)[0].(map[string]any); e["type"] != "home" || e["value"] != "bjensen@example.com" {
			t.Errorf("email after PATCH: %v", e)
		}
	})
}

// TestBadInputIfNoneMatchOnWrites: If-None-Match refuses a write only when
// it names the current version.
func TestBadInputIfNoneMatchOnWrites(t *testing.T) {
	b := newBadHarness(t)
	w := b.send("PATCH", "/Users/"+b.vars["{bj}"], patchOps(op("replace", "title", `"Guide"`)), map[string]string{"If-None-Match": b.vars["{bjstale}"]})
	if w.Code != http.StatusNoContent {
		t.Errorf("PATCH with If-None-Match naming an old version: %d %s", w.Code, w.Body)
	}
	w = b.send("DELETE", "/Groups/"+b.vars["{g1}"], "", map[string]string{"If-None-Match": `W/"no-such-version"`})
	if w.Code != http.StatusNoContent {
		t.Errorf("DELETE with If-None-Match naming another version: %d %s", w.Code, w.Body)
	}
}

// TestBadInputLimitsAccept pins the other edge of the limits the suite
// refuses: values at the limits are accepted.
func TestBadInputLimitsAccept(t *testing.T) {
	custom := func(v string) string {
		return `{"schemas":["` + userURN + `","urn:example:custom:1.0:User"],"userName":"edge@example.com","urn:example:custom:1.0:User":{"deep":` + v + `}}`
	}
	for _, c := range []struct{ name, body string }{
		{"depth 32 of arrays", custom(nested(30, false, `"x"`))},
		{"depth 32 of objects", custom(nested(30, true, `"x"`))},
		{"title of 65,536 bytes", userJSON(`"userName":"edge@example.com","title":"` + strings.Repeat("x", 65536) + `"`)},
		{"userName of 1,024 bytes", userJSON(`"userName":"` + strings.Repeat("a", 1012) + `@example.com"`)},
		{"TAB, LF and CR in addresses.formatted", userJSON(`"userName":"edge@example.com","addresses":[{"formatted":"1 Main St\tApt 2\r\nSpringfield"}]`)},
		{"TAB and LF in an undeclared extension", custom(`"a\tb\nc"`)},
		{"non-ASCII userName", userJSON(`"userName":"jürgen.ßtraße@example.com"`)},
		{"trailing whitespace after the body", newUser("") + " \r\n\t"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBadHarness(t)
			if w := b.send("POST", "/Users", c.body, nil); w.Code != http.StatusCreated {
				t.Errorf("%d, want 201: %s", w.Code, clipDiff(w.Body.String()))
			}
		})
	}
}
