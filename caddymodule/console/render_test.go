package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// checkPage checks what every page must be: security headers, no inline
// script or style, a label for every control, one h1 and headings in
// order.
func checkPage(t *testing.T, name string, r *response) {
	t.Helper()
	h := r.Header()
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
		!strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s: CSP %q", name, csp)
	}
	for k, v := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
	} {
		if h.Get(k) != v {
			t.Errorf("%s: %s = %q, want %q", name, k, h.Get(k), v)
		}
	}
	if r.doc == nil {
		t.Fatalf("%s: not HTML", name)
	}
	if htmlEl := all(r.doc, func(n *html.Node) bool { return n.DataAtom == atom.Html }); attr(htmlEl[0], "lang") == "" {
		t.Errorf("%s: no lang", name)
	}
	labels := map[string]bool{}
	for _, l := range all(r.doc, func(n *html.Node) bool { return n.DataAtom == atom.Label }) {
		labels[attr(l, "for")] = true
	}
	prev := 0
	h1s := 0
	for _, n := range all(r.doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
				t.Errorf("%s: inline %s on <%s>", name, a.Key, n.Data)
			}
		}
		switch n.DataAtom {
		case atom.Script:
			if attr(n, "src") == "" {
				t.Errorf("%s: inline script", name)
			}
		case atom.Style:
			t.Errorf("%s: inline style element", name)
		case atom.Input, atom.Textarea, atom.Select:
			if attr(n, "type") == "hidden" {
				continue
			}
			if id := attr(n, "id"); (id == "" || !labels[id]) && attr(n, "aria-label") == "" {
				t.Errorf("%s: <%s name=%q id=%q> has no label", name, n.Data, attr(n, "name"), attr(n, "id"))
			}
		case atom.Button:
			if text(n) == "" && attr(n, "aria-label") == "" {
				t.Errorf("%s: a button without a name", name)
			}
		case atom.H1, atom.H2, atom.H3, atom.H4:
			level := int(n.Data[1] - '0')
			if level == 1 {
				h1s++
			}
			if level > prev+1 {
				t.Errorf("%s: <%s> %q follows h%d", name, n.Data, text(n), prev)
			}
			prev = level
		}
	}
	if h1s != 1 {
		t.Errorf("%s: %d h1 elements", name, h1s)
	}
}

// fullTenant fills every part of a tenant's panel.
func fullTenant(hs *harness) {
	ft := settingsTenant(hs)
	now := hs.clock.Now()
	ft.panel.Token = &TokenInfo{ID: "t1", IssuedAt: now.AddDate(0, -11, -20), ExpiresAt: now.Add(10 * 24 * time.Hour)}
	ft.panel.Overlapping = []TokenInfo{{ID: "t0", AcceptedUntil: ptr(now.Add(time.Hour))}}
	ft.panel.RotationOverlap = 24 * time.Hour
	ft.panel.LastRequest = ptr(now.Add(-time.Minute))
	ft.panel.LastChange = ptr(now.Add(-time.Hour))
	ft.panel.Warnings = []Warning{{Code: "token_expiring"}, {Code: "dead_letters"}, {Code: "delivery_failing"}, {Code: "other", Message: "<b>odd</b>"}}
	ft.panel.Backend = &Backend{Name: "keepnet", Version: "1.0", Delivered: 5, Head: 9, Lag: 4, LagTime: time.Hour,
		DeadLetters: 1, Failing: true, LastError: "503 from the product"}
	ft.activity = []Activity{{Seq: 9, Time: now, Kind: "user.deleted", Who: "<script>alert(1)</script>"}}
	ft.requests = []Request{{Time: now, Operation: "discovery", Status: 200}, {Time: now, Operation: "list Users", Status: 401, Reason: "expired"}}
	ft.dead = []DeadLetter{{Seq: 3, Time: now, Kind: "user.created", Who: "z", Error: "no email", Attempts: 8}}
}

func TestPagesRender(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("empty")
	fullTenant(hs)
	hs.svc.add("off").panel.Enabled = false
	admin := hs.admin("acme")
	op := hs.operator()
	session := hs.anonymous()
	session.signIn("acme", false)
	link, _ := hs.sessions.NewLink("acme", false, time.Hour)

	pages := map[string]func() *response{
		"panel empty":      func() *response { return op.get("/console/t/empty/").status(http.StatusOK) },
		"panel full":       func() *response { return admin.get("/console/t/acme/").status(http.StatusOK) },
		"panel session":    func() *response { return session.get("/console/t/acme/").status(http.StatusOK) },
		"panel disabled":   func() *response { return op.get("/console/t/off/").status(http.StatusOK) },
		"panel missing":    func() *response { return hs.admin("nobody").get("/console/t/nobody/").status(http.StatusOK) },
		"regenerate":       func() *response { return admin.get("/console/t/acme/regenerate").status(http.StatusOK) },
		"connection":       func() *response { return admin.get("/console/t/acme/connection").status(http.StatusOK) },
		"connection empty": func() *response { return op.get("/console/t/empty/connection").status(http.StatusOK) },
		"tenants":          func() *response { return op.get("/console/").status(http.StatusOK) },
		"tenants none":     func() *response { return op.get("/console/?q=zzz").status(http.StatusOK) },
		"unauthorized":     func() *response { return hs.anonymous().get("/console/").status(http.StatusUnauthorized) },
		"forbidden":        func() *response { return admin.get("/console/t/empty/").status(http.StatusForbidden) },
		"not found":        func() *response { return op.get("/console/t/nobody/").status(http.StatusNotFound) },
		"signin":           func() *response { return hs.anonymous().get("/console/signin").status(http.StatusOK) },
		"signin link":      func() *response { return hs.anonymous().get("/console/signin?link=" + link).status(http.StatusOK) },
		"signin bad":       func() *response { return hs.anonymous().get("/console/signin?link=x").status(http.StatusBadRequest) },
		"signed out":       func() *response { return hs.anonymous().get("/console/signin?out=1").status(http.StatusOK) },
		"token": func() *response {
			return op.submit(op.get("/console/t/empty/").form("/token"), nil).status(http.StatusOK)
		},
		"token again": func() *response {
			return op.post("/console/t/empty/token", url.Values{"csrf": {hs.sessions.identityCSRF("", true)}, "nonce": {"used"}}).
				status(http.StatusConflict)
		},
	}
	for name, get := range pages {
		t.Run(name, func(t *testing.T) {
			r := get()
			checkPage(t, name, r)
			if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<b>odd</b>") {
				t.Error("unescaped content")
			}
		})
	}
	// The empty list.
	empty := newHarness(t)
	empty.svc.profiles = nil
	r := empty.operator().get("/console/").status(http.StatusOK)
	checkPage(t, "tenants empty", r)
	if !strings.Contains(r.mainText(), "No tenant has SCIM enabled yet") || !strings.Contains(r.mainText(), "no runtime tenant profiles") {
		t.Errorf("empty list: %s", r.mainText())
	}
}

func TestTemplatesWithZeroData(t *testing.T) {
	hs := newHarness(t)
	p := &principal{operator: true, key: "k", csrf: "c"}
	for name := range hs.h.pages {
		for _, data := range []any{nil, &panelView{}, &panelView{Panel: &Panel{Backend: &Backend{}}, Settings: &settingsView{}},
			confirmView{}, tokenView{}, connectionView{}, &listView{}, signinView{}, errorView{}} {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/console/", nil)
			hs.h.render(rec, r, p, http.StatusOK, name, "T", data)
			if rec.Code == http.StatusInternalServerError {
				// A page given another page's data may fail; its own must not.
				if ownData(name, data) {
					t.Errorf("%s with %T: %s", name, data, rec.Body)
				}
			}
		}
	}
}

// ownData says whether data is what page renders.
func ownData(page string, data any) bool {
	want := map[string]string{
		"panel": "*console.panelView", "regenerate": "console.confirmView", "token": "console.tokenView",
		"connection": "console.connectionView", "tenants": "*console.listView", "signin": "console.signinView",
		"error": "console.errorView", "unauthorized": "<nil>",
	}[page]
	return fmt.Sprintf("%T", data) == want
}

func TestAssets(t *testing.T) {
	hs := newHarness(t)
	c := hs.anonymous()
	page := c.get("/console/signin")
	var css string
	for _, l := range all(page.doc, func(n *html.Node) bool { return n.DataAtom == atom.Link }) {
		css = attr(l, "href")
	}
	if !strings.HasPrefix(css, "/console/assets/console.css?v=") {
		t.Fatalf("stylesheet at %q", css)
	}
	res := c.get(css).status(http.StatusOK)
	if res.Header().Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(res.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("asset headers %v", res.Header())
	}
	if !strings.Contains(res.body, "prefers-color-scheme: dark") {
		t.Error("no dark mode")
	}
	r := httptest.NewRequest(http.MethodGet, "https://scim.example.com/console/assets/console.js", nil)
	r.Header.Set("If-None-Match", res.Header().Get("ETag"))
	if res.Header().Get("ETag") == "" {
		t.Error("no ETag")
	}
	js := c.get("/console/assets/console.js").status(http.StatusOK)
	if js.Header().Get("Cache-Control") != "no-cache" || js.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("unversioned asset headers %v", js.Header())
	}
	r.Header.Set("If-None-Match", js.Header().Get("ETag"))
	c.do(r).status(http.StatusNotModified)
	c.get("/console/assets/nope.js").status(http.StatusNotFound)
}

func TestRoutes(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	op := hs.operator()
	if loc := op.get("/console").status(http.StatusSeeOther).Header().Get("Location"); loc != "/console/" {
		t.Errorf("prefix redirects to %q", loc)
	}
	if loc := op.get("/console/t/acme").status(http.StatusSeeOther).Header().Get("Location"); loc != "/console/t/acme/" {
		t.Errorf("tenant redirects to %q", loc)
	}
	op.get("/console/t/acme/nothing").status(http.StatusNotFound)
	op.get("/console/t/acme/settings").status(http.StatusMethodNotAllowed)
	op.get("/consolex/").status(http.StatusNotFound)
	csrf := hs.sessions.identityCSRF("", true)
	op.post("/console/", url.Values{"csrf": {csrf}}).status(http.StatusMethodNotAllowed)

	// An empty prefix serves from the root.
	h, err := New(Config{Service: hs.svc, Identify: func(*http.Request) (string, bool) { return "", true }})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/t/acme/", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("root prefix: %d", rec.Code)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without a Service")
	}
}

func TestSecretsNotLogged(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	hs := newHarness(t)
	hs.h.log = zap.New(core)
	hs.svc.add("acme")
	secret, _ := hs.sessions.NewLink("acme", false, time.Hour)
	c := hs.anonymous()
	res := c.post("/console/signin", url.Values{"link": {secret}})
	cookie := res.Result().Cookies()[0].Value
	c.cookie = &http.Cookie{Name: CookieName, Value: cookie}
	c.post("/console/signin", url.Values{"link": {secret}})
	tok := shownToken(c.submit(c.get("/console/t/acme/").form("/token"), nil))
	if tok == "" {
		t.Fatal("no token")
	}
	hs.admin("acme").get("/console/t/globex/")
	if logs.Len() == 0 {
		t.Fatal("nothing logged")
	}
	for _, e := range logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		line := e.Message + " " + string(b)
		for _, s := range []string{secret, cookie, tok} {
			if strings.Contains(line, s) {
				t.Errorf("log line holds a secret: %s", line)
			}
		}
	}
}
