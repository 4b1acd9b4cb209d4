package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// readCounter counts a store's generic and raw reads, to tell which path
// answered a request.
type readCounter struct {
	*store.Badger
	generic, raw atomic.Int64
}

func (c *readCounter) Get(ctx context.Context, tenant string, rt *schema.ResourceType, id string) (map[string]any, error) {
	c.generic.Add(1)
	return c.Badger.Get(ctx, tenant, rt, id)
}

func (c *readCounter) List(ctx context.Context, tenant string, rt *schema.ResourceType, q store.Query) (*store.Page, error) {
	c.generic.Add(1)
	return c.Badger.List(ctx, tenant, rt, q)
}

func (c *readCounter) GetRaw(ctx context.Context, tenant string, rt *schema.ResourceType, id string) ([]byte, error) {
	c.raw.Add(1)
	return c.Badger.GetRaw(ctx, tenant, rt, id)
}

func (c *readCounter) RawGroups(ctx context.Context, tenant, member string) ([]store.GroupRef, error) {
	c.raw.Add(1)
	return c.Badger.RawGroups(ctx, tenant, member)
}

func (c *readCounter) ListRaw(ctx context.Context, tenant string, rt *schema.ResourceType, q store.Query) (*store.RawPage, bool, error) {
	c.raw.Add(1)
	return c.Badger.ListRaw(ctx, tenant, rt, q)
}

// genericOnly is a store without store.RawReader: every read takes the
// generic path.
type genericOnly struct {
	store.Store
	store.GroupLister
}

// leanPair serves one store through two handlers: lean, whose store hands
// out JSON, and generic, whose store does not.
type leanPair struct {
	t                    *testing.T
	st                   *readCounter
	lean, generic        http.Handler
	users, groups        []string
	versions             map[string]string
	userNames, externals []string
}

func newLeanPair(t *testing.T) *leanPair {
	t.Helper()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, ok := any(genericOnly{}).(store.RawReader); ok {
		t.Fatal("genericOnly must hide store.RawReader")
	}
	rc := &readCounter{Badger: st}
	return &leanPair{
		t: t, st: rc, versions: map[string]string{},
		lean:    New(Config{Store: rc}).Handler("acme", "/scim/v2/acme"),
		generic: New(Config{Store: genericOnly{Store: st, GroupLister: st}}).Handler("acme", "/scim/v2/acme"),
	}
}

func (p *leanPair) serve(h http.Handler, method, path, body string, header http.Header) *httptest.ResponseRecorder {
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, "https://scim.example.com:8443/scim/v2/acme"+path, strings.NewReader(body))
	} else {
		r = httptest.NewRequest(method, "https://scim.example.com:8443/scim/v2/acme"+path, nil)
	}
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// create posts body and records the new resource's id and version.
func (p *leanPair) create(endpoint, body string) string {
	p.t.Helper()
	w := p.serve(p.generic, http.MethodPost, endpoint, body, nil)
	if w.Code != http.StatusCreated {
		p.t.Fatalf("POST %s: %d %s", endpoint, w.Code, w.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		p.t.Fatal(err)
	}
	id := m["id"].(string)
	p.versions[id] = w.Header().Get("ETag")
	return id
}

// seed fills the tenant with users carrying every kind of attribute
// (complex, multi-valued, references, binary, booleans, the enterprise
// extension with a manager, a custom extension with numbers and nesting,
// text that JSON and HTML escape), users with a password, and groups with
// users and groups as members.
func (p *leanPair) seed() {
	p.t.Helper()
	const custom = `"urn:example:params:scim:schemas:extension:acme:2.0:User":{"badge":12345678901234567890,"ratio":1.5e3,"neg":-0.25,"ok":true,"tags":["a","<b>"],"nested":{"deep":[1,{"x":"y"}]}}`
	full := func(i int, manager string) string {
		mgr := ""
		if manager != "" {
			mgr = `,"manager":{"value":"` + manager + `"}`
		}
		return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"userName":"Full.User%[1]d@Contoso.example","externalId":"ext-%[1]d","password":"S3cret-%[1]d!",
			"name":{"formatted":"Ms. Barbara J Jensen III","familyName":"Jensen","givenName":"Barbara","middleName":"Jane","honorificPrefix":"Ms.","honorificSuffix":"III"},
			"displayName":"Babs Jensen","nickName":"Babs","profileUrl":"https://login.example.com/bjensen?a=1&b=<2>",
			"title":"Tour Guide","userType":"Employee","preferredLanguage":"en-US","locale":"en-US","timezone":"America/Los_Angeles","active":%[2]t,
			"emails":[{"value":"bjensen%[1]d@example.com","type":"work","primary":true},{"value":"babs%[1]d@jensen.org","type":"home"}],
			"phoneNumbers":[{"value":"555-555-5555","type":"work"},{"value":"555-555-4444","type":"mobile","primary":true}],
			"ims":[{"value":"someaimhandle","type":"aim"}],
			"photos":[{"value":"https://photos.example.com/profilephoto/72930000000Ccne/F","type":"photo"}],
			"addresses":[{"type":"work","streetAddress":"100 Universal City Plaza","locality":"Hollywood","region":"CA","postalCode":"91608","country":"USA","formatted":"100 Universal City Plaza\nHollywood, CA 91608 USA","primary":true},
				{"type":"home","streetAddress":"456 Hollywood Blvd","locality":"Hollywood","region":"CA","postalCode":"91608","country":"USA"}],
			"entitlements":[{"value":"printing"}],"roles":[{"value":"admin","primary":true}],
			"x509Certificates":[{"value":"MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"}],
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"70%[1]d","costCenter":"4130","organization":"Universal Studios","division":"Theme Park","department":"Tour Operations"%[3]s},
			%[4]s}`, i, i%2 == 0, mgr, custom)
	}
	boss := p.create("/Users", full(0, ""))
	p.users = append(p.users, boss)
	for i := 1; i <= 4; i++ {
		p.users = append(p.users, p.create("/Users", full(i, boss)))
	}
	odd := p.create("/Users", `{`+userSchemas+`,"userName":"Odd\u00e9 <script>&amp;</script>","externalId":"ext-1",
		"displayName":"Babs Jensen","title":"Line\u2028Sep \"quoted\" back\\slash \ud83d\ude00 Zoë","active":false}`)
	bare := p.create("/Users", `{`+userSchemas+`,"userName":"bare"}`)
	p.users = append(p.users, odd, bare)
	for i := 0; i < 20; i++ {
		p.users = append(p.users, p.create("/Users", fmt.Sprintf(`{`+userSchemas+`,"userName":"bulk%d","externalId":"shared","emails":[{"value":"same@example.com"}]}`, i)))
	}
	inner := p.create("/Groups", group(`"displayName":"Inner <&> \"Group\"","externalId":"g-inner","members":[{"value":"`+p.users[1]+`"},{"value":"`+odd+`"}]`))
	var ms []string
	for _, u := range p.users[:12] {
		ms = append(ms, `{"value":"`+u+`"}`)
	}
	ms = append(ms, `{"value":"`+inner+`","type":"Group"}`)
	outer := p.create("/Groups", group(`"displayName":"Everyone","externalId":"g-outer","members":[`+strings.Join(ms, ",")+`]`))
	empty := p.create("/Groups", group(`"displayName":"Empty"`))
	p.groups = []string{inner, outer, empty}
	for _, g := range p.groups {
		// Group versions changed with each membership write; read them
		// again.
		w := p.serve(p.generic, http.MethodGet, "/Groups/"+g+"?attributes=id", "", nil)
		p.versions[g] = w.Header().Get("ETag")
	}
	for _, u := range p.users {
		w := p.serve(p.generic, http.MethodGet, "/Users/"+u+"?attributes=id", "", nil)
		p.versions[u] = w.Header().Get("ETag")
	}
	p.userNames = []string{"Full.User0@Contoso.example", "FULL.USER3@CONTOSO.EXAMPLE", "Oddé <script>&amp;</script>", "bare", "bulk7", "nobody"}
	p.externals = []string{"ext-1", "EXT-1", "shared", "g-inner", "none"}
}

// leanCase is one request compared between the two paths; lean says
// whether the lean path must answer it.
type leanCase struct {
	method, path, body string
	header             http.Header
	lean               bool
}

func (p *leanPair) cases() []leanCase {
	var cs []leanCase
	get := func(path string, lean bool) {
		cs = append(cs, leanCase{method: http.MethodGet, path: path, lean: lean})
	}
	for _, u := range p.users {
		get("/Users/"+u, true)
		get("/Users/"+u+"?attributes=", true)
		get("/Users/"+u+"?attributes=userName,groups", false)
		get("/Users/"+u+"?excludedAttributes=groups", false)
		get("/Users?filter="+url.QueryEscape(`id eq "`+u+`"`), true)
		get("/Users?filter="+url.QueryEscape(`ID eq "`+strings.ToUpper(u)+`"`), true)
		cs = append(cs,
			leanCase{method: http.MethodGet, path: "/Users/" + u, header: http.Header{"If-None-Match": {p.versions[u]}}, lean: true},
			leanCase{method: http.MethodGet, path: "/Users/" + u, header: http.Header{"If-None-Match": {`W/"999999"`, `"1", *`}}, lean: true},
			leanCase{method: http.MethodGet, path: "/Users/" + u, header: http.Header{"If-None-Match": {`W/"999999"`}}, lean: true},
		)
	}
	for _, g := range p.groups {
		get("/Groups/"+g, true)
		get("/Groups/"+g+"?excludedAttributes=members", false)
		get("/Groups?filter="+url.QueryEscape(`id eq "`+g+`"`), true)
		cs = append(cs, leanCase{method: http.MethodGet, path: "/Groups/" + g, header: http.Header{"If-None-Match": {p.versions[g]}}, lean: true})
	}
	get("/Users/no-such-id", true)
	get("/Groups/"+p.users[0], true)
	for _, n := range p.userNames {
		for _, f := range []string{`userName eq %q`, `urn:ietf:params:scim:schemas:core:2.0:User:userName eq %q`, `displayName eq %q`, `emails.value eq %q`} {
			get("/Users?filter="+url.QueryEscape(fmt.Sprintf(f, n)), true)
		}
	}
	for _, e := range p.externals {
		for _, page := range []string{"", "&count=0", "&count=3", "&startIndex=5&count=4", "&startIndex=19", "&startIndex=100", "&startIndex=-4&count=2"} {
			get("/Users?filter="+url.QueryEscape(fmt.Sprintf(`externalId eq %q`, e))+page, true)
			get("/Groups?filter="+url.QueryEscape(fmt.Sprintf(`externalId eq %q`, e))+page, true)
		}
	}
	for _, d := range []string{"Babs Jensen", "babs jensen", "Inner <&> \"Group\"", "EVERYONE", "Empty", "none"} {
		get("/Users?filter="+url.QueryEscape(fmt.Sprintf(`displayName eq %q`, d)), true)
		get("/Groups?filter="+url.QueryEscape(fmt.Sprintf(`displayName eq %q`, d)), true)
	}
	get("/Users?filter="+url.QueryEscape(`emails.value eq "same@example.com"`)+"&count=5", true)
	get("/Users?filter="+url.QueryEscape(`externalId eq 12`), true)
	// Not lean: a projection, a sort, a filter no index answers, a cursor.
	get("/Users?filter="+url.QueryEscape(`externalId eq "shared"`)+"&attributes=userName", false)
	get("/Users?filter="+url.QueryEscape(`externalId eq "shared"`)+"&excludedAttributes=emails", false)
	get("/Users?filter="+url.QueryEscape(`externalId eq "shared"`)+"&sortBy=userName", false)
	get("/Users?filter="+url.QueryEscape(`userName sw "bulk1"`), false)
	get("/Users?filter="+url.QueryEscape(`userName eq "bulk1" or userName eq "bulk2"`), false)
	get("/Users?filter="+url.QueryEscape(`emails[value eq "same@example.com"]`)+"&count=2", false)
	// Unfiltered pages in creation order are lean; sorted ones are not.
	for _, page := range []string{"", "?count=0", "?count=3", "?startIndex=5&count=4", "?startIndex=19", "?startIndex=100", "?startIndex=-4&count=2"} {
		get("/Users"+page, true)
		get("/Groups"+page, true)
	}
	get("/Users?sortBy=userName&count=3", false)
	cs = append(cs,
		leanCase{method: http.MethodPost, path: "/Users/.search", body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"externalId eq \"shared\"","startIndex":3,"count":2}`, lean: true},
		leanCase{method: http.MethodPost, path: "/Groups/.search", body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"displayName eq \"everyone\""}`, lean: true},
		leanCase{method: http.MethodPost, path: "/.search", body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"externalId eq \"g-inner\""}`, lean: false},
	)
	return cs
}

// TestLeanMatchesGeneric is the differential test of the lean read path:
// every request is answered by both paths, and the status, the headers
// and the JSON of the body, decoded, must be the same.
func TestLeanMatchesGeneric(t *testing.T) {
	p := newLeanPair(t)
	p.seed()
	leanSeen := 0
	for _, c := range p.cases() {
		name := c.method + " " + c.path
		if c.header != nil {
			name += fmt.Sprint(" ", c.header)
		}
		t.Run(name, func(t *testing.T) {
			g0, r0 := p.st.generic.Load(), p.st.raw.Load()
			lw := p.serve(p.lean, c.method, c.path, c.body, c.header)
			generic, raw := p.st.generic.Load()-g0, p.st.raw.Load()-r0
			gw := p.serve(p.generic, c.method, c.path, c.body, c.header)
			if c.lean && (generic != 0 || raw == 0) {
				t.Fatalf("not answered by the lean path: %d generic reads, %d raw", generic, raw)
			}
			if !c.lean && generic == 0 {
				t.Fatalf("answered by the lean path; want the generic one")
			}
			if c.lean {
				leanSeen++
			}
			compareResponses(t, lw, gw)
		})
	}
	if leanSeen < 200 {
		t.Fatalf("only %d requests took the lean path", leanSeen)
	}
}

// compareResponses fails unless a and b have the same status, the same
// SCIM headers and bodies that decode to the same JSON.
func compareResponses(t *testing.T, lean, generic *httptest.ResponseRecorder) {
	t.Helper()
	if lean.Code != generic.Code {
		t.Fatalf("status %d, generic %d\nlean:    %s\ngeneric: %s", lean.Code, generic.Code, lean.Body, generic.Body)
	}
	for _, h := range []string{"Content-Type", "ETag", "Location", "Content-Length"} {
		if !reflect.DeepEqual(lean.Header().Values(h), generic.Header().Values(h)) {
			t.Errorf("%s %q, generic %q", h, lean.Header().Values(h), generic.Header().Values(h))
		}
	}
	if lean.Body.Len() == 0 && generic.Body.Len() == 0 {
		return
	}
	lv, gv := decodeAny(t, lean.Body.Bytes()), decodeAny(t, generic.Body.Bytes())
	if !reflect.DeepEqual(lv, gv) {
		t.Fatalf("bodies differ\nlean:    %s\ngeneric: %s", lean.Body, generic.Body)
	}
	if !json.Valid(lean.Body.Bytes()) {
		t.Fatalf("lean body is not valid JSON: %s", lean.Body)
	}
}

// decodeAny decodes exactly one JSON value, numbers as written.
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	if d.More() {
		t.Fatalf("more than one JSON value: %s", b)
	}
	return v
}

// TestLeanNeverReturnsPassword checks that a password sent with a user is
// in neither path's response, and that the schema gives the lean path
// nothing to drop: an attribute returned "never" is writeOnly, so it is
// never stored, and no attribute is returned only on request. An attribute
// of either kind that could be stored would have to be removed from a
// response, which the lean path does not do; this test then fails.
func TestLeanNeverReturnsPassword(t *testing.T) {
	p := newLeanPair(t)
	id := p.create("/Users", `{`+userSchemas+`,"userName":"pw","password":"Hunter2-unique-secret"}`)
	for _, path := range []string{"/Users/" + id, "/Users?filter=" + url.QueryEscape(`userName eq "pw"`)} {
		for _, h := range []http.Handler{p.lean, p.generic} {
			w := p.serve(h, http.MethodGet, path, "", nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
			}
			if body := strings.ToLower(w.Body.String()); strings.Contains(body, "password") || strings.Contains(body, "hunter2") {
				t.Fatalf("GET %s returned the password: %s", path, w.Body)
			}
		}
	}
	raw, err := p.st.GetRaw(context.Background(), "acme", schema.User, id)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(string(raw)), "password") {
		t.Fatalf("the password was stored: %s", raw)
	}
	var walk func(where string, attrs []*schema.Attribute)
	walk = func(where string, attrs []*schema.Attribute) {
		for _, a := range attrs {
			switch a.EffectiveReturned() {
			case schema.Never:
				if schema.Writable(a) {
					t.Errorf("%s%s is returned never but stored; the lean path would return it", where, a.Name)
				}
			case schema.Request:
				t.Errorf("%s%s is returned only on request; the lean path would return it by default", where, a.Name)
			}
			walk(where+a.Name+".", a.SubAttributes)
		}
	}
	for _, rt := range schema.ResourceTypes() {
		walk(rt.Name+": ", rt.Schema.Attributes)
		for _, e := range rt.Extensions {
			walk(e.Schema.ID+": ", e.Schema.Attributes)
		}
	}
}

// TestParseLean checks which records the lean path splices into and which
// it leaves to the generic path.
func TestParseLean(t *testing.T) {
	cases := []struct {
		name, record string
		ok           bool
		id, version  string
		response     string
	}{
		{"stored", `{"id":"a","meta":{"resourceType":"User","version":"W/\"3\""},"userName":"x"}`, true, "a", `W/"3"`,
			`{"id":"a","meta":{"resourceType":"User","version":"W/\"3\"","location":"https://h/Groups/a"},"userName":"x"}`},
		{"spaces", " {\n \"id\" : \"a\" , \"meta\" : { } } \n", true, "a", "",
			" {\n \"id\" : \"a\" , \"meta\" : { \"location\":\"https://h/Groups/a\"} }"},
		{"no meta", `{"id":"a"}`, true, "a", "", `{"id":"a"}`},
		{"escaped names", `{"\u0069d":"a\/b","meta":{"vers\u0069on":"1"}}`, true, "a/b", "1",
			`{"\u0069d":"a\/b","meta":{"vers\u0069on":"1","location":"https://h/Groups/a/b"}}`},
		{"nested meta-like keys", `{"x":{"meta":{"location":1}},"id":"a","y":["}",{"]":"{"}]}`, true, "a", "",
			`{"x":{"meta":{"location":1}},"id":"a","y":["}",{"]":"{"}]}`},
		{"stored location", `{"id":"a","meta":{"location":"x"}}`, false, "", "", ""},
		{"stored groups", `{"id":"a","groups":[]}`, false, "", "", ""},
		{"stored members", `{"id":"a","members":[]}`, false, "", "", ""},
		{"id not a string", `{"id":1}`, false, "", "", ""},
		{"no id", `{"userName":"x"}`, false, "", "", ""},
		{"meta not an object", `{"id":"a","meta":"x"}`, false, "", "", ""},
		{"version not a string", `{"id":"a","meta":{"version":3}}`, false, "", "", ""},
		{"id twice", `{"id":"a","id":"b"}`, false, "", "", ""},
		{"meta twice", `{"id":"a","meta":{},"meta":{}}`, false, "", "", ""},
		{"trailing data", `{"id":"a"}{}`, false, "", "", ""},
		{"unterminated", `{"id":"a"`, false, "", "", ""},
		{"not an object", `["id","a"]`, false, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, ok := parseLean([]byte(c.record))
			if ok != c.ok {
				t.Fatalf("ok %v, want %v", ok, c.ok)
			}
			if !ok {
				return
			}
			if d.id != c.id || d.version != c.version {
				t.Fatalf("id %q version %q, want %q %q", d.id, d.version, c.id, c.version)
			}
			q := &request{Server: New(Config{Store: noEdges{}}), ctx: context.Background(), tenant: "acme", base: "https://h"}
			out, err := q.appendLean(nil, nil, schema.Group, d, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != c.response {
				t.Fatalf("response\n%s\nwant\n%s", out, c.response)
			}
		})
	}
}

// noEdges is a store whose groups have no members.
type noEdges struct{ store.Store }

func (noEdges) Members(context.Context, string, string) ([]patch.Member, error) { return nil, nil }

// TestAppendEscaped checks that strings are written as encoding/json
// writes them.
func TestAppendEscaped(t *testing.T) {
	for _, s := range []string{
		"", "plain", `"quoted" \back\slash/`, "<script>&amp;</script>", "tab\tnl\nret\rbs\bff\f", "\x00\x01\x1f\x7f",
		"Zoë 日本 \U0001F600", "line\u2028para\u2029", "bad\xffutf8\xc3", "\xed\xa0\x80 surrogate",
	} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
	}
}

// TestLeanPagesMatchGeneric compares unfiltered pages of a tenant large
// enough for the store's position index, at every kind of startIndex,
// while users are in groups (their groups are part of each user).
func TestLeanPagesMatchGeneric(t *testing.T) {
	p := newLeanPair(t)
	const n = 1200
	var members []string
	for i := 0; i < n; i++ {
		id := p.create("/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"page%04d","displayName":"Page <%d> & co"}`, i, i))
		if i%3 == 0 {
			members = append(members, `{"value":"`+id+`"}`)
		}
		if i%250 == 0 {
			p.create("/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G`+fmt.Sprint(i)+`","members":[`+strings.Join(members, ",")+`]}`)
			members = nil
		}
	}
	for _, q := range []string{"?count=100", "?startIndex=450&count=100", "?startIndex=600&count=100", "?startIndex=1150&count=100", "?startIndex=1201&count=5", "?startIndex=1&count=0", "?startIndex=777&count=1"} {
		t.Run(q, func(t *testing.T) {
			g0, r0 := p.st.generic.Load(), p.st.raw.Load()
			lw := p.serve(p.lean, http.MethodGet, "/Users"+q, "", nil)
			if generic, raw := p.st.generic.Load()-g0, p.st.raw.Load()-r0; generic != 0 || raw == 0 {
				t.Fatalf("not answered by the lean path: %d generic reads, %d raw", generic, raw)
			}
			gw := p.serve(p.generic, http.MethodGet, "/Users"+q, "", nil)
			compareResponses(t, lw, gw)
		})
	}
}
