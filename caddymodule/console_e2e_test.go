package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
)

// consoleSite is runtimeCaddyfile with the console on the same site.
func consoleSite() string {
	return strings.Replace(runtimeCaddyfile, "{SITE} {\n", "{SITE} {\n\tscim_console\n", 1)
}

// TestConsoleSignInLinks mints sign-in links through the admin API and the
// CLI and uses them over TLS: each works once, for its tenant only.
func TestConsoleSignInLinks(t *testing.T) {
	in := startCaddy(t, consoleSite())
	in.putTenant(t, "print2", `{}`, http.StatusCreated)

	refusals := []struct{ body, says string }{
		{`{}`, "name the tenant"},
		{`{"tenant":"acme","operator":true}`, "not both"},
		{`{"tenant":"acme","ttl":"30s"}`, "between 1m and 24h"},
		{`{"tenant":"acme","ttl":"48h"}`, "between 1m and 24h"},
		{`{"tenant":"nobody"}`, "not enabled"},
		{`{"tenants":"acme"}`, "unknown field"},
	}
	for _, c := range refusals {
		status, b := in.adminDo(t, "POST", "/scim/console/links", c.body)
		if status < 400 || !strings.Contains(string(b), c.says) {
			t.Errorf("%s: %d %s; want a refusal saying %q", c.body, status, b, c.says)
		}
	}

	status, b := in.adminDo(t, "POST", "/scim/console/links", `{"tenant":"acme"}`)
	var link ConsoleLink
	if status != 200 || json.Unmarshal(b, &link) != nil || !strings.HasPrefix(link.URL, "https://"+in.site+"/console/signin?link=") {
		t.Fatalf("link: %d %s", status, b)
	}
	secret := strings.TrimPrefix(link.URL, "https://"+in.site+"/console/signin?link=")
	if logs, _ := readFile(in.storage + "/caddy.log"); strings.Contains(logs, secret) {
		t.Fatal("the link's secret is in the log")
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Transport: in.client.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, string) {
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	signin := func() *http.Response {
		req, _ := http.NewRequest("POST", "https://"+in.site+"/console/signin", strings.NewReader(url.Values{"link": {secret}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://"+in.site)
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	// Without signing in: nothing but the explanation.
	if status, body := get("https://" + in.site + "/console/t/acme/"); status != 401 || strings.Contains(body, "Tenant URL") {
		t.Fatalf("anonymous panel: %d", status)
	}
	// Opening the link does not use it up.
	for i := 0; i < 2; i++ {
		if status, body := get(link.URL); status != 200 || !strings.Contains(body, `action="/console/signin"`) {
			t.Fatalf("opening the link: %d", status)
		}
	}
	resp := signin()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/console/t/acme/" {
		t.Fatalf("sign in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookie := resp.Header.Get("Set-Cookie")
	for _, attr := range []string{"scim_console=", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age="} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie %q lacks %s", cookie, attr)
		}
	}
	if status, body := get("https://" + in.site + "/console/t/acme/"); status != 200 || !strings.Contains(body, "https://"+in.site+"/scim/v2/acme") {
		t.Fatalf("panel: %d", status)
	}
	// The walk-through names what the tenant's backend requires of users.
	if status, body := get("https://" + in.site + "/console/t/acme/setup/okta"); status != 200 || !strings.Contains(body, "Attributes pharos needs") ||
		!strings.Contains(body, "<code>emails</code>") || !strings.Contains(body, "https://"+in.site+"/scim/v2/acme") {
		t.Fatalf("walk-through: %d", status)
	}
	if status, _ := get("https://" + in.site + "/console/t/print2/"); status != 403 {
		t.Fatalf("another tenant's panel: %d", status)
	}
	// The link worked once.
	jar2, _ := cookiejar.New(nil)
	browser.Jar = jar2
	if resp := signin(); resp.StatusCode < 400 {
		t.Fatalf("a used link signed in again: %d", resp.StatusCode)
	}

	// The CLI prints an operator link that opens the tenant list.
	out := runCLI(t, consoleCommand(), "--address="+in.admin)
	u := out[strings.Index(out, "https://"):]
	u = strings.TrimSpace(u[:strings.Index(u, "\n")])
	if !strings.Contains(out, "Operator sign-in link") || !strings.Contains(out, "It works once") {
		t.Fatalf("cli: %s", out)
	}
	secret = strings.TrimPrefix(u, "https://"+in.site+"/console/signin?link=")
	if resp := signin(); resp.StatusCode != 303 || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("operator sign in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if status, body := get("https://" + in.site + "/console/"); status != 200 || !strings.Contains(body, "acme") || !strings.Contains(body, "print2") {
		t.Fatalf("operator list: %d", status)
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// TestConsoleNamedConnections: where the profile allows it, a tenant's
// admin creates a named connection in the console; it is its own tenant,
// served at once with its own Tenant URL and token, and stays the
// account's.
func TestConsoleNamedConnections(t *testing.T) {
	in := startCaddy(t, strings.Replace(consoleSite(), "\t\t\trotation_overlap 1h\n", "\t\t\trotation_overlap 1h\n\t\t\tconnections 1\n", 1))
	in.putTenant(t, "cust", `{}`, http.StatusCreated)
	in.putTenant(t, "other", `{}`, http.StatusCreated)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Transport: in.client.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values) (int, string, string) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, "https://"+in.site+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://"+in.site)
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("Location")
	}
	var link ConsoleLink
	_, b := in.adminDo(t, "POST", "/scim/console/links", `{"tenant":"cust"}`)
	if err := json.Unmarshal(b, &link); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := do("POST", "/console/signin", url.Values{"link": {strings.SplitN(link.URL, "link=", 2)[1]}}); status != 303 {
		t.Fatalf("sign in: %d", status)
	}
	status, page, _ := do("GET", "/console/t/cust/", nil)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if status != 200 || csrf == nil || !strings.Contains(page, `action="/console/t/cust/connections"`) {
		t.Fatalf("panel: %d, csrf %v", status, csrf)
	}
	status, _, loc := do("POST", "/console/t/cust/connections", url.Values{"csrf": {csrf[1]}, "tenant": {"cust"}, "name": {"hr"}})
	if status != 303 || !strings.HasPrefix(loc, "/console/t/cust.hr/") {
		t.Fatalf("create: %d %s", status, loc)
	}
	st := in.status(t, "cust.hr")
	if st.Runtime == nil || st.Runtime.Account != "cust" || !st.Enabled || st.TenantURL != "https://"+in.site+"/scim/v2/cust.hr" {
		t.Fatalf("the connection: %+v", st)
	}
	token := in.token(t, "cust.hr").Token
	if status, _, body := in.scim(t, "POST", "/scim/v2/cust.hr/Users", token, userBody("ann@cust.example")); status != 201 {
		t.Fatalf("SCIM through the connection: %d %v", status, body)
	}
	if status, page, _ := do("GET", "/console/t/cust.hr/", nil); status != 200 || !strings.Contains(page, "A SCIM connection of") {
		t.Fatalf("the connection's panel: %d", status)
	}
	// The limit is 1; another account's panel stays closed.
	if status, _, loc := do("POST", "/console/t/cust/connections", url.Values{"csrf": {csrf[1]}, "tenant": {"cust"}, "name": {"it"}}); status != 303 || strings.Contains(loc, "cust.it") {
		t.Fatalf("a second connection: %d %s", status, loc)
	}
	if status, _ := in.adminDo(t, "GET", "/scim/tenants/cust.it", ""); status != 404 {
		t.Fatal("a connection over the limit was created")
	}
	if status, _, _ := do("GET", "/console/t/other/", nil); status != 403 {
		t.Fatalf("another account's panel: %d", status)
	}
	// Changing the connection through the admin API keeps it the account's.
	in.putTenant(t, "cust.hr", `{"rate_limit":{"requests":5,"window":"1s"}}`, http.StatusOK)
	if st := in.status(t, "cust.hr"); st.Runtime.Account != "cust" {
		t.Fatalf("the connection lost its account: %+v", st.Runtime)
	}
}
