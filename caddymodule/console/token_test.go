package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// shownToken is the token a page shows, or "".
func shownToken(r *response) string {
	n := byID(r.doc, "token")
	if n == nil || n.DataAtom != atom.Textarea || n.FirstChild == nil {
		return ""
	}
	return n.FirstChild.Data
}

func TestTokenShownOnce(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	c := hs.admin("acme")

	panel := c.get("/console/t/acme/").status(http.StatusOK)
	if panel.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("panel Cache-Control %q", panel.Header().Get("Cache-Control"))
	}
	gen := panel.form("/t/acme/token")
	if gen.method != http.MethodPost || gen.values.Get("nonce") == "" || gen.values.Get("regenerate") != "" {
		t.Fatalf("Generate form %+v", gen.values)
	}
	if txt := text(gen.node); txt != "Generate Token" {
		t.Errorf("button says %q", txt)
	}
	if hs.svc.issues() != 0 {
		t.Fatal("showing the panel minted a token")
	}

	res := c.submit(gen, nil).status(http.StatusOK)
	if res.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("token page Cache-Control %q", res.Header().Get("Cache-Control"))
	}
	tok := shownToken(res)
	if tok == "" || !strings.HasPrefix(tok, "scimtok_acme_") {
		t.Fatalf("token page shows token %q", tok)
	}
	field := byID(res.doc, "token")
	if !hasAttr(field, "readonly") {
		t.Error("token field is not read-only")
	}
	if u := byID(res.doc, "tenant-url"); attr(u, "value") != "https://scim.example.com/scim/v2/acme" {
		t.Errorf("tenant URL field %q", attr(u, "value"))
	}
	if e := byID(res.doc, "expires"); attr(e, "data-iso") != "2026-03-01T12:00:00Z" {
		t.Errorf("expiry %q", attr(e, "data-iso"))
	}
	dl := byID(res.doc, "download")
	if dl == nil || !hasAttr(dl, "hidden") || attr(dl, "type") != "button" {
		t.Error("Download is not a script-built button hidden without script")
	}
	if got := attr(byID(res.doc, "credentials"), "data-filename"); got != "scim-credentials-acme.txt" {
		t.Errorf("download name %q", got)
	}
	if !strings.Contains(text(byID(res.doc, "expiry")), "expires on 1 Mar 2026, 12:00 UTC (in 1 year)") {
		t.Errorf("expiry line %q", text(byID(res.doc, "expiry")))
	}
	if hs.svc.issues() != 1 {
		t.Fatalf("IssueToken called %d times", hs.svc.issues())
	}

	// The same form again — a reload, a double click — mints nothing.
	for range 2 {
		again := c.submit(gen, nil).status(http.StatusConflict)
		if shownToken(again) != "" || strings.Contains(again.body, tok) {
			t.Fatal("a reused form showed a token")
		}
		if !strings.Contains(again.mainText(), "already shown and is not shown again") ||
			!strings.Contains(again.mainText(), "regenerate") {
			t.Errorf("reused form page: %s", again.mainText())
		}
	}
	// An unknown nonce neither.
	c.submit(gen, url.Values{"nonce": {"made-up"}}).status(http.StatusConflict)
	// Nor a GET of the token address, nor the panel: new tabs, back button.
	c.get("/console/t/acme/token").status(http.StatusSeeOther)
	panel = c.get("/console/t/acme/").status(http.StatusOK)
	if strings.Contains(panel.body, tok) || shownToken(panel) != "" {
		t.Error("the panel shows the token")
	}
	if len(panel.forms("/token")) != 0 {
		t.Error("the panel offers Generate while a token exists")
	}
	regen := all(panel.doc, func(n *html.Node) bool {
		return n.DataAtom == atom.A && strings.HasSuffix(attr(n, "href"), "/regenerate")
	})
	if len(regen) != 1 || text(regen[0]) != "Regenerate Token" {
		t.Error("the panel does not offer Regenerate Token")
	}
	if hs.svc.issues() != 1 {
		t.Errorf("IssueToken called %d times, want 1", hs.svc.issues())
	}
}

func TestNonceBoundToPrincipalAndTenant(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	hs.svc.add("globex")
	op := hs.operator()
	gen := op.get("/console/t/acme/").form("/token")
	// Another tenant's form: refused as such when it names its tenant,
	// and its nonce does not work for another tenant when it does not.
	op.post("/console/t/globex/token", gen.values).status(http.StatusBadRequest)
	vals := url.Values{"csrf": gen.values["csrf"], "nonce": gen.values["nonce"]}
	op.post("/console/t/globex/token", vals).status(http.StatusConflict)
	// Another user's.
	other := hs.anonymous()
	other.signIn("acme", false)
	csrf := other.get("/console/t/acme/").form("/token").values.Get("csrf")
	other.submit(gen, url.Values{"csrf": {csrf}}).status(http.StatusConflict)
	if hs.svc.issues() != 0 {
		t.Fatalf("IssueToken called %d times", hs.svc.issues())
	}
	// A nonce is spent by any use, so the form is now spent too.
	op.submit(gen, nil).status(http.StatusConflict)
	op.submit(op.get("/console/t/acme/").form("/token"), nil).status(http.StatusOK)
}

func TestGenerateWithExistingToken(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme").panel.RotationOverlap = 0
	c := hs.admin("acme")
	// Two tabs open on the panel before any token exists.
	tab1 := c.get("/console/t/acme/").form("/token")
	tab2 := c.get("/console/t/acme/").form("/token")
	first := shownToken(c.submit(tab1, nil).status(http.StatusOK))

	res := c.submit(tab2, nil).status(http.StatusOK)
	if shownToken(res) != "" {
		t.Fatal("Generate over a valid token showed a token")
	}
	body := res.mainText()
	if !strings.Contains(body, "already has a valid token") || !strings.Contains(body, "stops working at once") {
		t.Errorf("confirmation page: %s", body)
	}
	confirm := res.form("/token")
	if confirm.values.Get("regenerate") != "1" || confirm.values.Get("confirm") != "1" || confirm.values.Get("nonce") == "" {
		t.Fatalf("confirmation form %v", confirm.values)
	}
	res = c.submit(confirm, nil).status(http.StatusOK)
	second := shownToken(res)
	if second == "" || second == first {
		t.Fatalf("regenerated token %q (first %q)", second, first)
	}
	if got := text(all(res.doc, func(n *html.Node) bool { return attr(n, "class") == "previous" })[0]); !strings.Contains(got, "stopped working now") {
		t.Errorf("previous token line %q", got)
	}
	if want := []bool{false, true}; len(hs.svc.issued) != 2 || hs.svc.issued[0] != want[0] || hs.svc.issued[1] != want[1] {
		t.Errorf("issued %v, want %v", hs.svc.issued, want)
	}
	c.submit(confirm, nil).status(http.StatusConflict)
}

func TestRegenerateConfirmation(t *testing.T) {
	for name, tc := range map[string]struct {
		overlap  time.Duration
		page     []string
		previous string
	}{
		"no overlap": {
			overlap:  0,
			page:     []string{"Your current token stops working at once", "valid for 1 year, until 1 Mar 2026, 12:00 UTC"},
			previous: "stopped working now",
		},
		"overlap": {
			overlap:  48 * time.Hour,
			page:     []string{"keeps working until 3 Mar 2025, 12:00 UTC (for 2 days)", "valid for 1 year, until 1 Mar 2026, 12:00 UTC"},
			previous: "keeps working until 3 Mar 2025, 12:00 UTC",
		},
	} {
		t.Run(name, func(t *testing.T) {
			hs := newHarness(t)
			ft := hs.svc.add("acme")
			ft.panel.RotationOverlap = tc.overlap
			ft.panel.Token = &TokenInfo{ID: "old", IssuedAt: hs.clock.Now().AddDate(0, -6, 0), ExpiresAt: hs.clock.Now().AddDate(0, 6, 0)}
			c := hs.admin("acme")

			// Without script, Regenerate is a link to the confirmation.
			res := c.get("/console/t/acme/regenerate").status(http.StatusOK)
			body := res.mainText()
			for _, want := range tc.page {
				if !strings.Contains(body, want) {
					t.Errorf("confirmation lacks %q: %s", want, body)
				}
			}
			if hs.svc.issues() != 0 {
				t.Fatal("the confirmation page minted a token")
			}
			f := res.form("/token")
			// A regenerate without the confirmation asks again.
			again := c.submit(f, url.Values{"confirm": nil}).status(http.StatusOK)
			if shownToken(again) != "" || hs.svc.issues() != 0 {
				t.Fatal("regenerate without confirmation minted a token")
			}
			res = c.submit(f, nil).status(http.StatusOK)
			if shownToken(res) == "" {
				t.Fatal("no token after confirming")
			}
			prev := all(res.doc, func(n *html.Node) bool { return attr(n, "class") == "previous" })
			if len(prev) != 1 || !strings.Contains(text(prev[0]), tc.previous) {
				t.Errorf("previous token lines %d, want %q", len(prev), tc.previous)
			}
		})
	}
}

func TestRegenerateExpiredToken(t *testing.T) {
	hs := newHarness(t)
	ft := hs.svc.add("acme")
	ft.panel.Token = &TokenInfo{ID: "old", ExpiresAt: hs.clock.Now().Add(-time.Hour)}
	ft.panel.Warnings = []Warning{{Code: "token_expired"}}
	res := hs.admin("acme").get("/console/t/acme/regenerate").status(http.StatusOK)
	if !strings.Contains(res.mainText(), "no longer works") {
		t.Errorf("confirmation for an expired token: %s", res.mainText())
	}
}

func TestNoTokenFormsWhenDisabled(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme").panel.Enabled = false
	c := hs.admin("acme")
	res := c.get("/console/t/acme/").status(http.StatusOK)
	if len(res.forms("/token")) != 0 {
		t.Error("a disabled tenant's panel offers Generate")
	}
	if !strings.Contains(res.mainText(), "available on request") {
		t.Errorf("disabled panel: %s", res.mainText())
	}
	c.get("/console/t/acme/regenerate").status(http.StatusSeeOther)
}

func TestNonceLimit(t *testing.T) {
	s := NewSessions(nil)
	ctx := context.Background()
	first, err := s.newNonce(ctx, "p", "acme")
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for range noncesPerPrincipal {
		last, _ = s.newNonce(ctx, "p", "acme")
	}
	if ok, _ := s.useNonce(ctx, "p", "acme", first); ok {
		t.Error("the oldest nonce outlived the limit")
	}
	used, _ := s.useNonce(ctx, "p", "acme", last)
	again, _ := s.useNonce(ctx, "p", "acme", last)
	if !used || again {
		t.Error("the newest nonce is not usable exactly once")
	}
}
