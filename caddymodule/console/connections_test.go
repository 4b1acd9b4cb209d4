package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestNamedConnections(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	hs.svc.add("globex")
	admin := hs.admin("acme")

	panel := admin.get("/console/t/acme/").status(http.StatusOK)
	f := panel.form("/console/t/acme/connections")
	if f == nil || !strings.Contains(panel.mainText(), "You may create 2 more") {
		t.Fatalf("no New connection form on the account's panel: %.400s", panel.mainText())
	}
	// The account creates a connection and lands on its panel.
	created := admin.follow(admin.submit(f, url.Values{"name": {"hr"}}))
	if created.Code != http.StatusOK || !strings.Contains(created.mainText(), "The connection hr is created") ||
		!strings.Contains(created.mainText(), "A SCIM connection of acme") {
		t.Fatalf("after creating: %d %.400s", created.Code, created.mainText())
	}
	// Its own panel, with its own Tenant URL and Generate Token.
	if byID(created.doc, "tenant-url") == nil || attr(byID(created.doc, "tenant-url"), "value") != "https://scim.example.com/scim/v2/acme.hr" ||
		created.form("/console/t/acme.hr/token") == nil {
		t.Fatal("the connection's panel lacks its Tenant URL or Generate Token")
	}
	// Listed on the account's panel.
	panel = admin.get("/console/t/acme/").status(http.StatusOK)
	if !strings.Contains(panel.mainText(), "https://scim.example.com/scim/v2/acme.hr") || !strings.Contains(panel.body, `href="/console/t/acme.hr/"`) {
		t.Fatal("the account's panel does not list the connection")
	}
	// A refusal from the service shows as a message and creates nothing.
	bad := admin.follow(admin.submit(panel.form("/console/t/acme/connections"), url.Values{"name": {"a.b"}}))
	if !strings.Contains(bad.mainText(), "Use letters, digits and dashes.") {
		t.Fatalf("refused name: %.300s", bad.mainText())
	}
	// A connection has no connections of its own.
	if len(created.forms("/console/t/acme.hr/connections")) != 0 {
		t.Fatal("a connection offers to create connections")
	}
	// Another account's admin cannot open it, nor create connections of
	// acme; acme's admin cannot open globex.
	hs.admin("globex").get("/console/t/acme.hr/").status(http.StatusForbidden)
	hs.admin("globex").post("/console/t/acme/connections", url.Values{"name": {"x"}}).status(http.StatusForbidden)
	admin.get("/console/t/globex/").status(http.StatusForbidden)
	// An account the operator allows none has no form.
	if len(hs.admin("globex").get("/console/t/globex/").status(http.StatusOK).forms("/console/t/globex/connections")) != 0 {
		t.Fatal("an account without connections allowed has the form")
	}
}
