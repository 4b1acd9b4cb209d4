package caddymodule

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// product is a fake product web app: its session endpoint knows two
// signed-in users by their session cookie, a tenant admin of acme and an
// operator; its other pages say where they are.
func product(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/session" {
			io.WriteString(w, "the product's own page "+r.URL.Path)
			return
		}
		c, _ := r.Cookie("product_session")
		switch {
		case c != nil && c.Value == "alice-of-acme":
			w.Header().Set("X-Product-Tenant", "acme")
		case c != nil && c.Value == "olga-the-operator":
			w.Header().Set("X-Product-Operator", "1")
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "<!doctype html><title>Product</title><h1>Sign in to Product first</h1>")
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// forwardAuthCaddyfile is examples/sidecar/console.caddyfile, which
// must adapt cleanly, on this test's addresses: its site block, with the
// fake product in place of the app.
func forwardAuthCaddyfile(t *testing.T, productAddr string) string {
	t.Helper()
	const example = "../examples/sidecar/console.caddyfile"
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	if _, warnings, err := adaptCaddyfile(example, string(b)); err != nil || len(warnings) > 0 {
		t.Fatalf("adapting %s: %v %v", example, err, warnings)
	}
	_, site, ok := strings.Cut(string(b), "\napp.example.com {")
	if !ok {
		t.Fatalf("%s has no app.example.com site", example)
	}
	site = strings.ReplaceAll(site, "localhost:3000", productAddr)
	return browserGlobals + "\n{SITE} {" + site
}

// TestConsoleForwardAuth signs users in to the console through the
// product's own login with forward_auth, as examples/sidecar/console.caddyfile
// sets it up: no sign-in link, the product's 401 without its session, a
// tenant admin confined to their tenant, an operator who switches runtime
// tenants off and on.
func TestConsoleForwardAuth(t *testing.T) {
	app := product(t)
	in := startCaddy(t, forwardAuthCaddyfile(t, strings.TrimPrefix(app.URL, "http://")))
	b := newBrowser(t, in)
	in.putTenant(t, "rt1", `{}`, 201)
	rt1 := in.token(t, "rt1").Token

	t.Run("without the product's session", func(t *testing.T) {
		tb := b.newUser(t).tab(t)
		for _, p := range []string{"/console/", "/console/t/acme/", "/console/t/acme/regenerate"} {
			if status := tb.open(p); status != 401 {
				t.Errorf("%s: %d, want the product's 401", p, status)
			}
			if got := tb.text("h1"); got != "Sign in to Product first" {
				t.Errorf("%s shows %q, want the product's page", p, got)
			}
		}
		// A header of the product's name, sent by the browser, signs no
		// one in.
		tb.setHeaders(map[string]any{"X-Product-Tenant": "acme", "X-Product-Operator": "1"})
		if status := tb.open("/console/t/acme/"); status != 401 {
			t.Errorf("with forged headers: %d, want 401", status)
		}
		// The rest of the site is the product's, and SCIM is not behind
		// its login.
		tb.setHeaders(map[string]any{})
		tb.open("/somewhere")
		if got := tb.text("body"); got != "the product's own page /somewhere" {
			t.Errorf("the product's page: %q", got)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/rt1/Users", rt1, ""); status != 200 {
			t.Errorf("SCIM with the token: %d", status)
		}
	})

	t.Run("a tenant admin signed in to the product", func(t *testing.T) {
		tb := b.newUser(t).tab(t)
		tb.setCookie("product_session", "alice-of-acme")
		if status := tb.open("/console/"); status != 200 {
			t.Fatalf("the console: %d", status)
		}
		var loc string
		tb.eval("location.pathname", &loc)
		if loc != "/console/t/acme/" || tb.text("main .lead strong") != "acme" {
			t.Errorf("the console opened %s: %s", loc, tb.where())
		}
		if tb.count(`form[action$="/signout"]`) != 0 {
			t.Error("a Sign out button for a sign-in that is the product's")
		}
		// A POST passes forward_auth and the console's CSRF check.
		if status := tb.navigate(chromedp.Click(chromedp.CSS(selGenerate), chromedp.NodeVisible)); status != 200 {
			t.Fatalf("Generate Token: %d", status)
		}
		tok := tb.value("#token")
		if status, _, _ := in.scim(t, "GET", scimPath(t, tb.value("#tenant-url"))+"/Users", tok, ""); status != 200 {
			t.Errorf("the generated token: %d", status)
		}
		for _, p := range []string{"/console/t/globex/", "/console/t/rt1/"} {
			if status := tb.open(p); status != 403 {
				t.Errorf("%s: %d, want 403", p, status)
			}
		}
		// Forged headers change nothing: forward_auth replaces them with
		// the product's answer.
		tb.setHeaders(map[string]any{"X-Product-Tenant": "globex", "X-Product-Operator": "1"})
		if status := tb.open("/console/t/globex/"); status != 403 {
			t.Errorf("globex with forged headers: %d, want 403", status)
		}
		if status := tb.open("/console/"); status != 200 || !tb.has("for acme.") {
			t.Errorf("the console with forged headers: %d %s", status, tb.where())
		}
	})

	t.Run("an operator signed in to the product", func(t *testing.T) {
		tb := b.newUser(t).tab(t)
		tb.setCookie("product_session", "olga-the-operator")
		tb.acceptDialogs()
		if status := tb.open("/console/"); status != 200 || tb.text("h1") != "Tenants" {
			t.Fatalf("the console: %s", tb.where())
		}
		var names []string
		tb.eval(`[...document.querySelectorAll("main tbody th[scope=row]")].map(th => th.innerText.trim())`, &names)
		if strings.Join(names, ",") != "acme,globex,rt1" {
			t.Errorf("the tenant list: %v", names)
		}
		// toggle presses Disable or Enable in rt1's row (accepting the
		// confirmation) and checks the message, the row, the tenant's
		// state and whether its token works.
		toggle := func(button, flash, shown string, enabled bool) {
			t.Helper()
			if status := tb.navigate(chromedp.Click(chromedp.CSS(`button[aria-label="`+button+` SCIM for rt1"]`), chromedp.NodeVisible)); status != 200 {
				t.Fatalf("%s: %d", button, status)
			}
			if got := tb.text(selFlash); got != flash {
				t.Errorf("after %s: %q", button, got)
			}
			var row string
			tb.eval(`[...document.querySelectorAll("main tbody tr")].find(r => r.querySelector("th").innerText.trim() == "rt1").querySelector('[data-label="SCIM"]').innerText.trim()`, &row)
			if row != shown {
				t.Errorf("rt1's row after %s: %q", button, row)
			}
			if st := in.status(t, "rt1"); st.Enabled != enabled {
				t.Errorf("rt1 after %s: %+v", button, st)
			}
			if status, _, _ := in.scim(t, "GET", "/scim/v2/rt1/Users", rt1, ""); (status == 200) != enabled {
				t.Errorf("rt1's token after %s: %d", button, status)
			}
		}
		toggle("Disable", "SCIM is disabled for rt1: its Tenant URL and token stop working; its data is kept.", "Disabled", false)
		toggle("Enable", "SCIM is enabled for rt1.", "Enabled", true)
	})
}

// setHeaders makes the tab send these headers with every request from now
// on (none: stop).
func (tb *tab) setHeaders(h map[string]any) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		tb.t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h}); err != nil {
		tb.t.Fatalf("setting headers: %v", err)
	}
}
