package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSigninLinkSingleUse(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	secret, err := hs.sessions.NewLink("acme", false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u := SigninURL("https://scim.example.com/", "/console/", secret)
	if want := "https://scim.example.com/console/signin?link=" + secret; u != want {
		t.Fatalf("SigninURL = %q, want %q", u, want)
	}
	path := strings.TrimPrefix(u, "https://scim.example.com")

	c := hs.anonymous()
	// A GET, as a mail scanner makes, shows the button and spends nothing.
	for range 3 {
		res := c.get(path).status(http.StatusOK)
		f := res.form("/signin")
		if f.method != http.MethodPost || f.values.Get("link") != secret {
			t.Fatalf("sign-in form %+v", f)
		}
		if !strings.Contains(res.mainText(), "acme") {
			t.Errorf("sign-in page does not name the tenant: %s", res.mainText())
		}
	}
	res := c.post("/console/signin", url.Values{"link": {secret}}).status(http.StatusSeeOther)
	if loc := res.Header().Get("Location"); loc != "/console/t/acme/" {
		t.Errorf("redirect to %q", loc)
	}
	var cookie *http.Cookie
	for _, ck := range res.Result().Cookies() {
		if ck.Name == CookieName {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	if !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode ||
		cookie.Path != "/console/" || cookie.MaxAge != int((8*time.Hour).Seconds()) {
		t.Errorf("cookie attributes %+v", cookie)
	}
	if len(cookie.Value) < 43 || strings.Contains(cookie.Value, secret) {
		t.Errorf("cookie value %q", cookie.Value)
	}
	c.cookie = &http.Cookie{Name: CookieName, Value: cookie.Value}
	c.get("/console/t/acme/").status(http.StatusOK)

	// The link works once, and a GET of it now says so too.
	other := hs.anonymous()
	for _, res := range []*response{
		other.post("/console/signin", url.Values{"link": {secret}}),
		other.get(path),
	} {
		res.status(http.StatusGone)
		body := res.mainText()
		if !strings.Contains(body, "already used") || !strings.Contains(body, "caddy scim console --tenant") {
			t.Errorf("used link page: %s", body)
		}
		if len(res.Result().Cookies()) != 0 {
			t.Error("a used link set a cookie")
		}
	}
}

func TestSigninLinkExpiresAndUnknown(t *testing.T) {
	hs := newHarness(t)
	secret, err := hs.sessions.NewLink("acme", false, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	hs.clock.Add(15 * time.Minute)
	c := hs.anonymous()
	res := c.post("/console/signin", url.Values{"link": {secret}}).status(http.StatusGone)
	if !strings.Contains(res.mainText(), "expired") {
		t.Errorf("expired link page: %s", res.mainText())
	}
	res = c.post("/console/signin", url.Values{"link": {"not-a-link"}}).status(http.StatusBadRequest)
	if !strings.Contains(res.mainText(), "not a valid sign-in link") {
		t.Errorf("unknown link page: %s", res.mainText())
	}
	c.post("/console/signin", nil).status(http.StatusBadRequest)
}

func TestOperatorSigninAndSessionExpiry(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	secret, err := hs.sessions.NewLink("", true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := hs.anonymous()
	res := c.post("/console/signin", url.Values{"link": {secret}}).status(http.StatusSeeOther)
	if loc := res.Header().Get("Location"); loc != "/console/" {
		t.Errorf("operator redirect to %q", loc)
	}
	c.signIn("", true)
	c.get("/console/").status(http.StatusOK)
	hs.clock.Add(8*time.Hour - time.Second)
	c.get("/console/").status(http.StatusOK)
	hs.clock.Add(time.Second)
	c.get("/console/").status(http.StatusUnauthorized)
}

func TestNewLinkRefuses(t *testing.T) {
	s := NewSessions(nil)
	for name, tc := range map[string]struct {
		tenant   string
		operator bool
		ttl      time.Duration
	}{
		"operator with tenant": {"acme", true, time.Hour},
		"no tenant":            {"", false, time.Hour},
		"bad name":             {"../x", false, time.Hour},
		"zero ttl":             {"acme", false, 0},
		"long ttl":             {"acme", false, 25 * time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.NewLink(tc.tenant, tc.operator, tc.ttl); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestSignout(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	c := hs.anonymous()
	c.signIn("acme", false)
	res := c.get("/console/t/acme/").status(http.StatusOK)
	f := res.form("/signout")
	res = c.submit(f, nil).status(http.StatusSeeOther)
	var cleared bool
	for _, ck := range res.Result().Cookies() {
		cleared = cleared || (ck.Name == CookieName && ck.MaxAge < 0)
	}
	if !cleared {
		t.Error("sign-out did not clear the cookie")
	}
	if !strings.Contains(c.follow(res).mainText(), "signed out") {
		t.Error("no signed-out page")
	}
	c.get("/console/t/acme/").status(http.StatusUnauthorized)
}

func TestAnonymousGets401(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	c := hs.anonymous()
	for _, path := range []string{"/console/", "/console/t/acme/", "/console/t/acme/connection",
		"/console/t/acme/regenerate", "/console/t/acme/token", "/console/t/nope/", "/console/elsewhere"} {
		res := c.get(path).status(http.StatusUnauthorized)
		if strings.Contains(res.body, "scim.example.com/scim/v2") || strings.Contains(res.body, "acme") {
			t.Errorf("%s: anonymous page shows tenant content", path)
		}
		if !strings.Contains(res.mainText(), "not signed in") {
			t.Errorf("%s: 401 page does not say how to get in: %s", path, res.mainText())
		}
	}
	for _, path := range []string{"/console/t/acme/token", "/console/t/acme/settings", "/console/tenants", "/console/signout"} {
		c.post(path, url.Values{"csrf": {"x"}}).status(http.StatusUnauthorized)
	}
	if hs.svc.issues() != 0 {
		t.Error("an anonymous request reached IssueToken")
	}
	// A cookie that is no session is no one.
	c.cookie = &http.Cookie{Name: CookieName, Value: "forged"}
	c.get("/console/").status(http.StatusUnauthorized)
}

func TestTenantAdminOnlyOwnTenant(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	hs.svc.add("globex")
	for name, c := range map[string]*client{"identify": hs.admin("acme"), "session": hs.anonymous()} {
		t.Run(name, func(t *testing.T) {
			if c.cookie == nil && c.headers.Get(hdrTenant) == "" {
				c.signIn("acme", false)
			}
			res := c.get("/console/").status(http.StatusSeeOther)
			if loc := res.Header().Get("Location"); loc != "/console/t/acme/" {
				t.Errorf("home redirects to %q", loc)
			}
			panel := c.get("/console/t/acme/").status(http.StatusOK)
			csrf := panel.form("/token").values.Get("csrf")

			for _, path := range []string{"/console/t/globex/", "/console/t/globex/connection", "/console/t/globex/regenerate"} {
				res := c.get(path).status(http.StatusForbidden)
				if strings.Contains(res.body, "scim/v2/globex") {
					t.Errorf("%s: 403 page shows the other tenant's URL", path)
				}
			}
			// By URL, with a valid form of the admin's own.
			f := panel.form("/token")
			c.post("/console/t/globex/token", f.values).status(http.StatusForbidden)
			// By form field, on the admin's own URL.
			c.submit(f, url.Values{"tenant": {"globex"}}).status(http.StatusForbidden)
			for _, path := range []string{"/console/t/globex/replay", "/console/t/globex/settings",
				"/console/t/globex/actions/import", "/console/t/globex/disable"} {
				c.post(path, url.Values{"csrf": {csrf}, "all": {"1"}}).status(http.StatusForbidden)
			}
			// Operator-only actions on their own tenant.
			c.post("/console/t/acme/disable", url.Values{"csrf": {csrf}}).status(http.StatusForbidden)
			c.post("/console/tenants", url.Values{"csrf": {csrf}, "name": {"new"}, "profile": {"print"}}).status(http.StatusForbidden)
			if hs.svc.issues() != 0 || len(hs.svc.disabled) != 0 || len(hs.svc.enabled) != 0 || len(hs.svc.replays) != 0 {
				t.Errorf("a refused request reached the service: issues %d, disabled %v, enabled %v, replays %v",
					hs.svc.issues(), hs.svc.disabled, hs.svc.enabled, hs.svc.replays)
			}
		})
	}
}

func TestOperatorSeesEveryTenant(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	hs.svc.add("globex").panel.Warnings = []Warning{{Code: "idle", Message: "no update since 2024-12-01"}}
	hs.svc.add("initech").panel.Enabled = false
	op := hs.operator()
	res := op.get("/console/").status(http.StatusOK)
	for _, name := range []string{"acme", "globex", "initech"} {
		if len(res.forms("/t/"+name+"/disable"))+len(res.forms("/t/"+name+"/enable")) != 1 {
			t.Errorf("%s: no enable or disable button", name)
		}
		op.get("/console/t/" + name + "/").status(http.StatusOK)
	}
	if !strings.Contains(res.mainText(), "no update since 2024-12-01") {
		t.Error("the list does not show warnings")
	}
	// Search, without script: a GET form.
	search := res.form("/console/")
	if search.method != http.MethodGet {
		t.Fatalf("search form method %s", search.method)
	}
	res = op.submit(search, url.Values{"q": {"GLOB"}}).status(http.StatusOK)
	rows := res.forms("/disable")
	if len(rows) != 1 || !strings.Contains(rows[0].action, "/t/globex/") {
		t.Errorf("search GLOB shows %d rows", len(rows))
	}
	if len(op.get("/console/?q=disabled").forms("/enable")) != 1 {
		t.Error("search disabled does not find the disabled tenant")
	}
	if !strings.Contains(op.get("/console/?q=nothing-like-it").mainText(), "No tenant matches") {
		t.Error("empty search result not said")
	}
}

func TestCSRF(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	c := hs.admin("acme")
	f := c.get("/console/t/acme/").form("/token")

	t.Run("no token", func(t *testing.T) {
		c.submit(f, url.Values{"csrf": nil}).status(http.StatusForbidden)
	})
	t.Run("wrong token", func(t *testing.T) {
		c.submit(f, url.Values{"csrf": {hs.sessions.identityCSRF("globex", false)}}).status(http.StatusForbidden)
	})
	t.Run("cross-site fetch", func(t *testing.T) {
		r := formRequest(f)
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		c.do(r).status(http.StatusForbidden)
	})
	t.Run("foreign origin", func(t *testing.T) {
		r := formRequest(f)
		r.Header.Del("Sec-Fetch-Site")
		r.Header.Set("Origin", "https://evil.example")
		c.do(r).status(http.StatusForbidden)
	})
	t.Run("another console session's token", func(t *testing.T) {
		s := hs.anonymous()
		s.signIn("acme", false)
		sf := s.get("/console/t/acme/").form("/token")
		if sf.values.Get("csrf") == f.values.Get("csrf") {
			t.Fatal("a console session shares the identity's CSRF token")
		}
		s.submit(sf, url.Values{"csrf": f.values["csrf"]}).status(http.StatusForbidden)
	})
	if hs.svc.issues() != 0 {
		t.Errorf("a refused POST reached IssueToken %d times", hs.svc.issues())
	}
	c.submit(f, nil).status(http.StatusOK)
	if hs.svc.issues() != 1 {
		t.Errorf("IssueToken called %d times", hs.svc.issues())
	}
}

// formRequest is the POST a form makes, from its own origin.
func formRequest(f *form) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "https://scim.example.com"+f.action, strings.NewReader(f.values.Encode()))
	r.Host = "scim.example.com"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	return r
}

func TestInvalidTenantNames(t *testing.T) {
	hs := newHarness(t)
	op := hs.operator()
	for _, name := range []string{".hidden", "-x", strings.Repeat("a", 65), "a%20b"} {
		op.get("/console/t/" + name + "/").status(http.StatusNotFound)
	}
	// A tenant admin asking for another name gets 403, whatever the name.
	hs.admin("acme").get("/console/t/.hidden/").status(http.StatusForbidden)
	// Identify naming no valid tenant signs no one into a tenant.
	hs.admin("../etc").get("/console/").status(http.StatusForbidden)
}

func TestSessionsSweep(t *testing.T) {
	c := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := NewSessions(c.Now)
	ctx := context.Background()
	secret, _ := s.NewLink("acme", false, time.Minute)
	_, id, _, _ := s.redeem(ctx, secret)
	if _, err := s.newNonce(ctx, sessionKey(id), "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.putFlash(ctx, "p", flash{Message: "m"}); err != nil {
		t.Fatal(err)
	}
	c.Add(SessionLifetime + time.Minute)
	if _, err := s.NewLink("acme", false, time.Minute); err != nil {
		t.Fatal(err)
	}
	m := s.backing().(*memBacking)
	sessions, nonces, flashes, links := m.count(kindSession), m.count(kindNonce), m.count(kindFlash), m.count(kindLink)
	if sessions != 0 || nonces != 0 || flashes != 0 || links != 2 {
		t.Errorf("after the sweep: %d sessions, %d nonces, %d flashes, %d links", sessions, nonces, flashes, links)
	}
	if state, _, _ := s.peekLink(ctx, secret); state != linkUsed {
		t.Errorf("a spent link reads %s", state)
	}
	c.Add(linkMemory)
	_, _ = s.NewLink("acme", false, time.Minute)
	if state, _, _ := s.peekLink(ctx, secret); state != linkUnknown {
		t.Errorf("an old link reads %s", state)
	}
}
