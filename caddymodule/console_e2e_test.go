package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
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
