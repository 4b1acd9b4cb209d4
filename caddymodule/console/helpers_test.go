package console

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// clock is a clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Headers the test Identify reads.
const (
	hdrTenant   = "X-Test-Tenant"
	hdrOperator = "X-Test-Operator"
)

// harness is a console over a fake service.
type harness struct {
	t        *testing.T
	h        *Handler
	svc      *fakeService
	sessions *Sessions
	clock    *clock
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	c := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	svc := newFakeService(c.Now)
	sessions := NewSessions(c.Now)
	h, err := New(Config{
		Prefix:   "/console",
		Service:  svc,
		Sessions: sessions,
		Identify: func(r *http.Request) (string, bool) {
			return r.Header.Get(hdrTenant), r.Header.Get(hdrOperator) == "1"
		},
		Now: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, h: h, svc: svc, sessions: sessions, clock: c}
}

// client is one browser: its identity headers or its session cookie.
type client struct {
	hs      *harness
	headers http.Header
	cookie  *http.Cookie
}

func (hs *harness) anonymous() *client {
	return &client{hs: hs, headers: http.Header{}}
}

// admin is a tenant admin identified by the server's own authentication.
func (hs *harness) admin(tenant string) *client {
	c := hs.anonymous()
	c.headers.Set(hdrTenant, tenant)
	return c
}

func (hs *harness) operator() *client {
	c := hs.anonymous()
	c.headers.Set(hdrOperator, "1")
	return c
}

// response is a recorded answer with its parsed page.
type response struct {
	*httptest.ResponseRecorder
	t    *testing.T
	body string
	doc  *html.Node
}

func (c *client) do(r *http.Request) *response {
	c.hs.t.Helper()
	for k, v := range c.headers {
		r.Header[k] = v
	}
	if c.cookie != nil {
		r.AddCookie(c.cookie)
	}
	rec := httptest.NewRecorder()
	c.hs.h.ServeHTTP(rec, r)
	res := &response{ResponseRecorder: rec, t: c.hs.t, body: rec.Body.String()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		doc, err := html.Parse(strings.NewReader(res.body))
		if err != nil {
			c.hs.t.Fatalf("parsing page: %v", err)
		}
		res.doc = doc
	}
	return res
}

func (c *client) get(path string) *response {
	c.hs.t.Helper()
	return c.do(httptest.NewRequest(http.MethodGet, "https://scim.example.com"+path, nil))
}

// post sends a form as a browser on the console's own origin does.
func (c *client) post(path string, form url.Values) *response {
	c.hs.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "https://scim.example.com"+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.Header.Set("Origin", "https://scim.example.com")
	return c.do(r)
}

// postMultipart sends fields and one file as payload.
func (c *client) postMultipart(path string, form url.Values, file []byte) *response {
	c.hs.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range form {
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("payload", "cards.csv")
		if err != nil {
			c.hs.t.Fatal(err)
		}
		_, _ = fw.Write(file)
	}
	_ = mw.Close()
	r := httptest.NewRequest(http.MethodPost, "https://scim.example.com"+path, &buf)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(r)
}

// submit sends a form of the page as its button would, with changes.
func (c *client) submit(f *form, change url.Values) *response {
	c.hs.t.Helper()
	vals := url.Values{}
	for k, v := range f.values {
		vals[k] = append([]string(nil), v...)
	}
	for k, v := range change {
		vals[k] = v
	}
	if f.method == http.MethodGet {
		u := f.action
		if len(vals) > 0 {
			u += "?" + vals.Encode()
		}
		return c.get(u)
	}
	return c.post(f.action, vals)
}

// follow follows a redirect.
func (c *client) follow(res *response) *response {
	c.hs.t.Helper()
	if res.Code != http.StatusSeeOther {
		c.hs.t.Fatalf("status %d, want 303; body:\n%s", res.Code, res.body)
	}
	loc := res.Header().Get("Location")
	if i := strings.IndexByte(loc, '#'); i >= 0 {
		loc = loc[:i]
	}
	return c.get(loc)
}

// signIn signs the client in with a console session from a sign-in link.
func (c *client) signIn(tenant string, operator bool) {
	c.hs.t.Helper()
	secret, err := c.hs.sessions.NewLink(tenant, operator, time.Hour)
	if err != nil {
		c.hs.t.Fatal(err)
	}
	res := c.post("/console/signin", url.Values{"link": {secret}})
	if res.Code != http.StatusSeeOther {
		c.hs.t.Fatalf("sign-in: status %d", res.Code)
	}
	for _, ck := range res.Result().Cookies() {
		if ck.Name == CookieName {
			c.cookie = &http.Cookie{Name: ck.Name, Value: ck.Value}
		}
	}
	if c.cookie == nil {
		c.hs.t.Fatal("sign-in set no cookie")
	}
}

func (r *response) status(want int) *response {
	r.t.Helper()
	if r.Code != want {
		r.t.Fatalf("status %d, want %d; body:\n%s", r.Code, want, r.body)
	}
	return r
}

// --- HTML helpers ---

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// all returns the element nodes below n that match.
func all(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	if n != nil {
		walk(n)
	}
	return out
}

func byID(n *html.Node, id string) *html.Node {
	found := all(n, func(n *html.Node) bool { return attr(n, "id") == id })
	if len(found) == 0 {
		return nil
	}
	return found[0]
}

// text is the text below n, spaces collapsed.
func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// mainText is the text of the page's main element.
func (r *response) mainText() string {
	m := all(r.doc, func(n *html.Node) bool { return n.DataAtom == atom.Main })
	if len(m) == 0 {
		return ""
	}
	return text(m[0])
}

// form is a form of a page with the values its fields carry.
type form struct {
	node   *html.Node
	action string
	method string
	values url.Values
}

// forms returns the page's forms whose action ends with suffix.
func (r *response) forms(suffix string) []*form {
	var out []*form
	for _, n := range all(r.doc, func(n *html.Node) bool { return n.DataAtom == atom.Form }) {
		action := attr(n, "action")
		if !strings.HasSuffix(strings.SplitN(action, "#", 2)[0], suffix) {
			continue
		}
		f := &form{node: n, action: action, method: strings.ToUpper(attr(n, "method")), values: url.Values{}}
		if f.method == "" {
			f.method = http.MethodGet
		}
		for _, in := range all(n, func(n *html.Node) bool {
			return n.DataAtom == atom.Input || n.DataAtom == atom.Textarea || n.DataAtom == atom.Select
		}) {
			name := attr(in, "name")
			if name == "" || attr(in, "type") == "file" {
				continue
			}
			switch in.DataAtom {
			case atom.Textarea:
				v := ""
				if in.FirstChild != nil {
					v = in.FirstChild.Data
				}
				f.values.Add(name, v)
			case atom.Select:
				for _, o := range all(in, func(n *html.Node) bool { return n.DataAtom == atom.Option }) {
					if hasAttr(o, "selected") {
						f.values.Add(name, attr(o, "value"))
					}
				}
			default:
				f.values.Add(name, attr(in, "value"))
			}
		}
		out = append(out, f)
	}
	return out
}

// form returns the one form whose action ends with suffix.
func (r *response) form(suffix string) *form {
	r.t.Helper()
	fs := r.forms(suffix)
	if len(fs) != 1 {
		r.t.Fatalf("%d forms with action …%s, want 1; body:\n%s", len(fs), suffix, r.body)
	}
	return fs[0]
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
