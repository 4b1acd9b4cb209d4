package console

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/docs/guides"
)

func TestSetupWalkthrough(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	hs.svc.tenants["acme"].requests = []Request{{Time: hs.clock.Now().Add(-time.Minute), Operation: "list Users", Status: 401, Reason: "invalid"}}
	hs.svc.add("globex")
	hs.svc.tenants["acme"].panel.Backend = &Backend{Name: "pharos", RequiredAttributes: []string{"emails"}}
	admin := hs.admin("acme")

	// The panel links to it; the picker lists every IdP and mints nothing.
	panel := admin.get("/console/t/acme/").status(http.StatusOK)
	if !strings.Contains(panel.body, `href="/console/t/acme/setup"`) {
		t.Fatal("the panel does not link to the walk-through")
	}
	pick := admin.get("/console/t/acme/setup").status(http.StatusOK)
	for _, g := range guides.All {
		if !strings.Contains(pick.body, `href="/console/t/acme/setup/`+g.Key+`"`) || !strings.Contains(pick.mainText(), g.Name) {
			t.Errorf("the picker lacks %s", g.Name)
		}
	}

	for _, g := range guides.All {
		t.Run(g.Key, func(t *testing.T) {
			res := admin.get("/console/t/acme/setup/" + g.Key).status(http.StatusOK)
			text := res.mainText()
			// This tenant's own Tenant URL in the guide's steps, never the
			// placeholder, and the operator's credentials step replaced.
			if strings.Contains(text, "tenant_url") || strings.Contains(text, "caddy scim") || strings.Contains(text, "Ask the server operator") {
				t.Errorf("the guide still speaks to the operator: %.300s", text)
			}
			if strings.Count(res.body, "https://scim.example.com/scim/v2/acme") < 2 {
				t.Errorf("the Tenant URL is not filled in the steps")
			}
			if strings.Contains(res.body, ".md") {
				t.Errorf("a link to a repository document survived")
			}
			// The connection check is on the page, with the 401 worded.
			if byID(res.doc, "connection") == nil || !strings.Contains(text, "list Users") {
				t.Errorf("no connection check on the page")
			}
			if hs.svc.issues() != 0 {
				t.Fatal("opening the walk-through minted a token")
			}
		})
	}

	if entra := admin.get("/console/t/acme/setup/entra"); !strings.Contains(entra.mainText(), "Attributes pharos needs") || !strings.Contains(entra.body, "<code>emails</code>") {
		t.Error("the walk-through does not name the attributes the product needs")
	}
	other := admin.get("/console/t/acme/setup/other").status(http.StatusOK)
	if !strings.Contains(other.mainText(), "Bearer") || byID(other.doc, "tenant-url") == nil {
		t.Error("the generic walk-through lacks its steps")
	}
	admin.get("/console/t/acme/setup/nope").status(http.StatusNotFound)
	// Another tenant's walk-through is refused, like its panel.
	admin.get("/console/t/globex/setup/entra").status(http.StatusForbidden)
	hs.anonymous().get("/console/t/acme/setup/entra").status(http.StatusUnauthorized)
}

// TestGuideTablesRender: the guides' tables (the Entra dialect table, each
// backend's required mappings) render as HTML tables, not as raw pipes.
func TestGuideTablesRender(t *testing.T) {
	html, err := renderGuide([]byte("# Title\n\nText.\n\n| backend | required |\n|---|---|\n| pharos | `emails` |\n"), "https://x.example/scim/v2/acme")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "<table>") || !strings.Contains(string(html), "<td>pharos</td>") || strings.Contains(string(html), "|---|") {
		t.Fatalf("the table rendered as:\n%s", html)
	}
}
