package caddymodule

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"github.com/spf13/cobra"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// The end-to-end tests run Caddy in this process from a Caddyfile, over
// real TLS from Caddy's internal CA, and talk to it as an IdP and as an
// operator would. Only one Caddy config runs per process, so they run one
// at a time.

// skew moves the clock of tokens and the store.
var skew atomic.Int64

func advance(d time.Duration) { skew.Add(int64(d)) }

type instance struct {
	t         *testing.T
	admin     string // host:port of the admin API
	site      string // host:port of the HTTPS site
	client    *http.Client
	storage   string
	caddyfile string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCaddy runs a Caddyfile whose {ADMIN}, {SITE} and {STORAGE} are
// replaced by free ports and a temporary directory.
func startCaddy(t *testing.T, caddyfile string) *instance {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_DATA_HOME", home+"/data")
	t.Setenv("XDG_CONFIG_HOME", home+"/config")
	skew.Store(0)
	skewed := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	prev := clock.Swap(&skewed)
	in := &instance{
		t:       t,
		admin:   fmt.Sprintf("localhost:%d", freePort(t)),
		site:    fmt.Sprintf("localhost:%d", freePort(t)),
		storage: t.TempDir(),
	}
	in.caddyfile = caddyfile
	in.load(caddyfile)
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping caddy: %v", err)
		}
		clock.Store(prev)
	})
	in.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: in.rootCAs()},
		ForceAttemptHTTP2: true,
	}}
	in.waitServing(t)
	return in
}

// waitServing waits until the site serves TLS: the certificate is issued
// in the background.
func (in *instance) waitServing(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := in.client.Get("https://" + in.site + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the site never served TLS: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// load adapts and runs a Caddyfile, replacing the running config.
func (in *instance) load(caddyfile string) {
	in.t.Helper()
	body := strings.NewReplacer("{ADMIN}", in.admin, "{SITE}", in.site, "{STORAGE}", in.storage).Replace(caddyfile)
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(body), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		in.t.Fatalf("adapting: %v", err)
	}
	for _, w := range warnings {
		in.t.Logf("adapt warning: %s", w)
	}
	if err := caddy.Load(cfg, true); err != nil {
		in.t.Fatalf("loading config: %v", err)
	}
}

func (in *instance) rootCAs() *x509.CertPool {
	in.t.Helper()
	var ca struct {
		Root string `json:"root_certificate"`
	}
	in.adminJSON(in.t, "GET", "/pki/ca/local", 200, &ca)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca.Root)) {
		in.t.Fatal("no root certificate from the internal CA")
	}
	return pool
}

func (in *instance) adminJSON(t *testing.T, method, path string, want int, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+in.admin+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("admin %s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("admin %s %s: %v: %s", method, path, err, b)
		}
	}
}

// token generates a tenant's token, replacing a valid one.
func (in *instance) token(t *testing.T, tenant string) Credentials {
	t.Helper()
	var c Credentials
	in.adminJSON(t, "POST", "/scim/tenants/"+tenant+"/token?regenerate=true", 200, &c)
	return c
}

func (in *instance) status(t *testing.T, tenant string) TenantStatus {
	t.Helper()
	var st TenantStatus
	in.adminJSON(t, "GET", "/scim/tenants/"+tenant, 200, &st)
	return st
}

// scim sends a SCIM request with a bearer token ("" for none).
func (in *instance) scim(t *testing.T, method, path, token, body string) (int, http.Header, map[string]any) {
	t.Helper()
	status, h, m, err := in.try(method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, h, m
}

func (in *instance) try(method, path, token, body string) (int, http.Header, map[string]any, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "https://"+in.site+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/scim+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			return resp.StatusCode, resp.Header, nil, fmt.Errorf("body is not JSON: %q", b)
		}
	}
	return resp.StatusCode, resp.Header, m, nil
}

const e2eCaddyfile = `{
	admin {ADMIN}
	storage file_system {STORAGE}/caddy
	local_certs
	skip_install_trust
	auto_https disable_redirects
	scim {
		storage_dir {STORAGE}
		flush_interval 1h
	}
	log {
		output file {STORAGE}/caddy.log
		level DEBUG
		# Caddy's TLS app races with its own event logging at DEBUG
		# while it starts (caddytls TLS.Start against TLS.onEvent).
		exclude events
	}
}

{SITE} {
	log {
		output file {STORAGE}/access.log
	}
	scim {
		tenant acme {
			rotation_overlap 1h
		}
		tenant globex {
			token_validity 30d
		}
	}
	respond "not scim" 404
}
`

func TestEndToEnd(t *testing.T) {
	in := startCaddy(t, e2eCaddyfile)
	user := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s","active":true}`

	t.Run("status before any token creates none", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			st := in.status(t, "acme")
			if st.Token != nil || len(st.Warnings) != 1 || st.Warnings[0].Code != "token_missing" {
				t.Fatalf("status: %+v", st)
			}
		}
	})

	t.Run("no token", func(t *testing.T) {
		status, h, body := in.scim(t, "GET", "/scim/v2/acme/Users", "", "")
		if status != 401 || body["status"] != "401" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%d %v %v", status, h.Get("WWW-Authenticate"), body)
		}
		if h.Get("Content-Type") != "application/scim+json" {
			t.Errorf("content type %q", h.Get("Content-Type"))
		}
	})

	// A first token needs no confirmation.
	var acme, globex Credentials
	in.adminJSON(t, "POST", "/scim/tenants/acme/token", 200, &acme)
	in.adminJSON(t, "POST", "/scim/tenants/globex/token", 200, &globex)
	secrets := []string{acme.Token, globex.Token}
	if acme.Previous == nil || len(acme.Previous) != 0 {
		t.Errorf("first token reports previous ones: %+v", acme.Previous)
	}
	defer func() {
		// Whatever happened, no token reached a log.
		for _, f := range []string{"caddy.log", "access.log"} {
			b, err := os.ReadFile(in.storage + "/" + f)
			if err != nil || len(b) == 0 {
				t.Errorf("reading %s: %v (%d bytes)", f, err, len(b))
				continue
			}
			for _, s := range secrets {
				if strings.Contains(string(b), s) || strings.Contains(string(b), strings.TrimPrefix(s, "scim_")) {
					t.Errorf("%s contains a token", f)
				}
			}
		}
		if b, _ := os.ReadFile(in.storage + "/caddy.log"); !strings.Contains(string(b), `"operation":"create User"`) {
			t.Error("the request log lacks the operation")
		}
	}()
	var uid string

	t.Run("generate and use", func(t *testing.T) {
		if acme.TenantURL != "https://"+in.site+"/scim/v2/acme" {
			t.Errorf("tenant_url %q", acme.TenantURL)
		}
		if d := acme.ExpiresAt.Sub(time.Now()); d < 364*24*time.Hour || d > 366*24*time.Hour {
			t.Errorf("acme token expires in %v, want a year", d)
		}
		if d := globex.ExpiresAt.Sub(time.Now()); d < 29*24*time.Hour || d > 31*24*time.Hour {
			t.Errorf("globex token expires in %v, want 30 days", d)
		}
		status, h, body := in.scim(t, "POST", "/scim/v2/acme/Users", acme.Token, fmt.Sprintf(user, "bjensen@example.com"))
		if status != 201 {
			t.Fatalf("create: %d %v", status, body)
		}
		uid = body["id"].(string)
		if h.Get("Location") != acme.TenantURL+"/Users/"+uid {
			t.Errorf("Location %q", h.Get("Location"))
		}
		if status, _, body = in.scim(t, "GET", "/scim/v2/acme/Users/"+uid, acme.Token, ""); status != 200 || body["userName"] != "bjensen@example.com" {
			t.Errorf("read back: %d %v", status, body)
		}
	})

	t.Run("tenant isolation", func(t *testing.T) {
		status, _, body := in.scim(t, "GET", "/scim/v2/globex/Users/"+uid, acme.Token, "")
		if status != 401 {
			t.Fatalf("acme token on globex: %d %v", status, body)
		}
		if strings.Contains(fmt.Sprint(body), "acme") || strings.Contains(fmt.Sprint(body), "bjensen") {
			t.Errorf("401 body reveals something: %v", body)
		}
		if status, _, body = in.scim(t, "GET", "/scim/v2/globex/Users/"+uid, globex.Token, ""); status != 404 {
			t.Errorf("acme's user through globex: %d %v", status, body)
		}
		if status, _, body = in.scim(t, "GET", "/scim/v2/globex/Users", globex.Token, ""); status != 200 || body["totalResults"] != float64(0) {
			t.Errorf("globex list: %d %v", status, body)
		}
	})

	t.Run("unknown tenant and other paths", func(t *testing.T) {
		status, _, body := in.scim(t, "GET", "/scim/v2/initech/Users", acme.Token, "")
		if status != 404 || body["status"] != "404" {
			t.Errorf("unknown tenant: %d %v", status, body)
		}
		resp, err := in.client.Get("https://" + in.site + "/somewhere/else")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || string(b) != "not scim" {
			t.Errorf("non-SCIM path did not reach the next handler: %d %q", resp.StatusCode, b)
		}
	})

	t.Run("regenerate with overlap", func(t *testing.T) {
		advance(time.Minute)
		// Without regenerate=true a valid token is not replaced.
		req, _ := http.NewRequest("POST", "http://"+in.admin+"/scim/tenants/acme/token", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 409 || !strings.Contains(string(b), "already has a valid token") || !strings.Contains(string(b), "regenerate=true") || strings.Contains(string(b), "scim_") {
			t.Errorf("second POST without regenerate: %d %s", resp.StatusCode, b)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/acme/Users/"+uid, acme.Token, ""); status != 200 {
			t.Errorf("a refused POST changed the token: %d", status)
		}
		in.adminJSON(t, "POST", "/scim/tenants/acme/token?regenerate=maybe", 400, nil)
		next := in.token(t, "acme")
		secrets = append(secrets, next.Token)
		issued := next.ExpiresAt.Add(-365 * 24 * time.Hour)
		if p := next.Previous; len(p) != 1 || p[0].RevokedNow || p[0].AcceptedUntil == nil || p[0].AcceptedUntil.Sub(issued) != time.Hour {
			t.Errorf("previous token with a 1h overlap: %+v", p)
		}
		for _, tok := range []string{acme.Token, next.Token} {
			if status, _, body := in.scim(t, "GET", "/scim/v2/acme/Users/"+uid, tok, ""); status != 200 {
				t.Errorf("inside the overlap: %d %v", status, body)
			}
		}
		st := in.status(t, "acme")
		if len(st.Overlapping) != 1 {
			t.Errorf("status during overlap: %+v", st)
		}
		advance(time.Hour + time.Second)
		status, _, body := in.scim(t, "GET", "/scim/v2/acme/Users/"+uid, acme.Token, "")
		if status != 401 || !strings.Contains(body["detail"].(string), "newest token") {
			t.Errorf("old token after the overlap: %d %v", status, body)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/acme/Users/"+uid, next.Token, ""); status != 200 {
			t.Errorf("new token: %d", status)
		}
		// globex has no overlap: regenerating revokes at once.
		nextG := in.token(t, "globex")
		secrets = append(secrets, nextG.Token)
		if p := nextG.Previous; len(p) != 1 || !p[0].RevokedNow || p[0].AcceptedUntil != nil {
			t.Errorf("previous token without overlap: %+v", p)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/globex/Users", globex.Token, ""); status != 401 {
			t.Errorf("old globex token: %d", status)
		}
		globex = nextG
		acme = next
	})

	t.Run("status and warnings", func(t *testing.T) {
		st := in.status(t, "acme")
		if st.LastRequest == nil || st.LastChange == nil || len(st.Warnings) != 0 {
			t.Fatalf("after use: %+v", st)
		}
		var all []TenantStatus
		in.adminJSON(t, "GET", "/scim/tenants", 200, &all)
		if len(all) != 2 || all[0].Tenant != "acme" || all[1].Tenant != "globex" {
			t.Errorf("tenants: %+v", all)
		}
		// globex's 30-day token: 17 days later it is about to expire.
		advance(17 * 24 * time.Hour)
		if st := in.status(t, "globex"); !hasWarning(st, "token_expiring") {
			t.Errorf("14 days before expiry: %+v", st.Warnings)
		}
		advance(14 * 24 * time.Hour)
		if st := in.status(t, "globex"); !hasWarning(st, "token_expired") {
			t.Errorf("after expiry: %+v", st.Warnings)
		}
		status, _, body := in.scim(t, "GET", "/scim/v2/globex/Users", globex.Token, "")
		if status != 401 || !strings.Contains(body["detail"].(string), "expired on") {
			t.Errorf("expired token: %d %v", status, body)
		}
		// acme was last used 31 days ago; 30 more and it is idle.
		advance(30 * 24 * time.Hour)
		if st := in.status(t, "acme"); !hasWarning(st, "idle") {
			t.Errorf("after 61 days without a request: %+v", st.Warnings)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/acme/Users", acme.Token, ""); status != 200 {
			t.Fatal(status)
		}
		if st := in.status(t, "acme"); hasWarning(st, "idle") {
			t.Errorf("still idle after a request: %+v", st.Warnings)
		}
	})

	var acmeOverlap string // acme's token before the CLI replaced it
	t.Run("cli", func(t *testing.T) {
		out := t.TempDir() + "/acme.json"
		// acme has a valid token: the command refuses to replace it.
		err := runCLIErr(tokenCommand(), "--tenant", "acme", "--out", out, "--address", in.admin)
		if err == nil || !strings.Contains(err.Error(), "already has a valid token") || !strings.Contains(err.Error(), "--regenerate") || !strings.Contains(err.Error(), "--revoke") || strings.Contains(err.Error(), "scim_") {
			t.Errorf("token on a tenant with a valid token: %v", err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("a refused token command wrote a credentials file")
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/acme/Users", acme.Token, ""); status != 200 {
			t.Errorf("a refused token command changed the token: %d", status)
		}
		prevID := in.status(t, "acme").Token.ID
		text := runCLI(t, tokenCommand(), "--tenant", "acme", "--regenerate", "--out", out, "--address", in.admin)
		if !strings.Contains(text, "Wrote the credentials of tenant acme") || !strings.Contains(text, "Previous:    token "+prevID+" accepted until ") || strings.Contains(text, "scim_") {
			t.Errorf("token --regenerate --out said %q", text)
		}
		fi, err := os.Stat(out)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("credentials file: %v %v", fi, err)
		}
		var creds Credentials
		raw, _ := os.ReadFile(out)
		if err := json.Unmarshal(raw, &creds); err != nil || creds.TenantURL != "https://"+in.site+"/scim/v2/acme" {
			t.Fatalf("credentials file: %s", raw)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/acme/Users", creds.Token, ""); status != 200 {
			t.Errorf("the downloaded token does not work: %d", status)
		}
		acmeOverlap = acme.Token
		acme = creds
		secrets = append(secrets, creds.Token)
		// globex's token has expired: a new one needs no --regenerate.
		text = runCLI(t, tokenCommand(), "--tenant", "globex", "--address", in.admin)
		if !strings.Contains(text, "Tenant URL:  https://"+in.site+"/scim/v2/globex") || !strings.Contains(text, "Token:       scim_") || !strings.Contains(text, "Previous:    none") {
			t.Errorf("token output: %s", text)
		}
		if i := strings.Index(text, "Token:       "); i >= 0 {
			secrets = append(secrets, strings.Fields(text[i:])[1])
		}
		text = runCLI(t, statusCommand(), "--address", in.admin)
		if !strings.Contains(text, "Tenant:        acme") || !strings.Contains(text, "Tenant:        globex") {
			t.Errorf("status output: %s", text)
		}
		var st TenantStatus
		if err := json.Unmarshal([]byte(runCLI(t, statusCommand(), "--tenant", "acme", "--json", "--address", in.admin)), &st); err != nil || st.Tenant != "acme" || st.Token == nil {
			t.Errorf("status --json: %+v %v", st, err)
		}
		if err := runCLIErr(tokenCommand(), "--tenant", "initech", "--address", in.admin); err == nil || !strings.Contains(err.Error(), "not enabled") {
			t.Errorf("token for an unknown tenant: %v", err)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		// acme's previous token is still inside its 1h overlap: a leaked
		// one would keep working.
		prev := acmeOverlap
		if status, _, _ := in.scim(t, "GET", "/scim/v2/acme/Users", prev, ""); status != 200 {
			t.Fatalf("the previous token inside the overlap: %d", status)
		}
		if err := runCLIErr(tokenCommand(), "--tenant", "acme", "--revoke", "--regenerate", "--address", in.admin); err == nil || !strings.Contains(err.Error(), "not both") {
			t.Errorf("--revoke --regenerate: %v", err)
		}
		text := runCLI(t, tokenCommand(), "--tenant", "acme", "--revoke", "--address", in.admin)
		if !strings.Contains(text, "Revoked 2 token(s) of tenant acme") || strings.Contains(text, "scim_") {
			t.Errorf("token --revoke said %q", text)
		}
		for _, tok := range []string{prev, acme.Token} {
			status, _, body := in.scim(t, "GET", "/scim/v2/acme/Users", tok, "")
			if status != 401 || !strings.Contains(fmt.Sprint(body["detail"]), "was revoked on") {
				t.Errorf("a revoked token: %d %v", status, body)
			}
		}
		st := in.status(t, "acme")
		if !hasWarning(st, "token_expired") || len(st.Overlapping) != 0 || !strings.Contains(st.Warnings[0].Message, "revoked on") {
			t.Errorf("status after revoke: %+v", st)
		}
		var res Revocation
		in.adminJSON(t, "DELETE", "/scim/tenants/acme/token", 200, &res)
		if res.Tenant != "acme" || res.Revoked != 0 || len(res.IDs) != 0 || res.RevokedAt != nil {
			t.Errorf("revoking again: %+v", res)
		}
		in.adminJSON(t, "DELETE", "/scim/tenants/initech/token", 404, nil)
		in.adminJSON(t, "GET", "/scim/tenants/acme/token", 405, nil)
		var js Revocation
		if err := json.Unmarshal([]byte(runCLI(t, tokenCommand(), "--tenant", "globex", "--revoke", "--json", "--address", in.admin)), &js); err != nil || js.Revoked != 1 || len(js.IDs) != 1 || js.RevokedAt == nil {
			t.Errorf("token --revoke --json: %+v %v", js, err)
		}
		// After a revoke a new token needs no --regenerate.
		out := t.TempDir() + "/acme.json"
		text = runCLI(t, tokenCommand(), "--tenant", "acme", "--out", out, "--address", in.admin)
		if !strings.Contains(text, "Previous:    none") {
			t.Errorf("token after revoke said %q", text)
		}
		raw, _ := os.ReadFile(out)
		var creds Credentials
		if err := json.Unmarshal(raw, &creds); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, creds.Token)
		acme = creds
		if status, _, _ := in.scim(t, "GET", "/scim/v2/acme/Users", acme.Token, ""); status != 200 {
			t.Errorf("the token generated after revoke: %d", status)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + in.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{
			`caddy_scim_requests_total{code="201",method="POST",resource="Users",tenant="acme"}`,
			`caddy_scim_auth_failures_total{reason="expired",tenant="globex"}`,
			`caddy_scim_request_duration_seconds_bucket{method="GET",resource="Users",tenant="acme"`,
		} {
			if !strings.Contains(string(b), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})

	t.Run("reload during a stream of requests", func(t *testing.T) {
		reloadUnderLoad(t, in, acme.Token)
	})
}

func runCLI(t *testing.T, c *cobra.Command, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetArgs(args)
	if err := c.Execute(); err != nil {
		t.Fatalf("%s %v: %v", c.Name(), args, err)
	}
	return out.String()
}

func runCLIErr(c *cobra.Command, args ...string) error {
	c.SetOut(io.Discard)
	c.SetErr(io.Discard)
	c.SetArgs(args)
	return c.Execute()
}

func hasWarning(st TenantStatus, code string) bool {
	for _, w := range st.Warnings {
		if w.Code == code {
			return true
		}
	}
	return false
}

// reloadUnderLoad sends creates and reads from two clients while the
// config is reloaded several times, then checks that no request failed and
// every acknowledged user is there.
func reloadUnderLoad(t *testing.T, in *instance, token string) {
	_, _, before := in.scim(t, "GET", "/scim/v2/acme/Users?count=0", token, "")
	base := int(before["totalResults"].(float64))
	stop := make(chan struct{})
	var created, failed atomic.Int64
	var failures sync.Map
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"reload-%d-%d@example.com"}`, w, i)
				status, _, m, err := in.try("POST", "/scim/v2/acme/Users", token, body)
				if err != nil || status != 201 {
					failed.Add(1)
					failures.Store(fmt.Sprintf("create %d-%d", w, i), fmt.Sprint(status, err, m))
					continue
				}
				created.Add(1)
				id := m["id"].(string)
				if status, _, m, err := in.try("GET", "/scim/v2/acme/Users/"+id, token, ""); err != nil || status != 200 {
					failed.Add(1)
					failures.Store(fmt.Sprintf("read %d-%d", w, i), fmt.Sprint(status, err, m))
				}
			}
		}(w)
	}
	variants := []string{
		strings.Replace(in.caddyfile, "tenant globex {", "tenant initech\n\t\ttenant globex {", 1),
		in.caddyfile,
		strings.Replace(in.caddyfile, `respond "not scim" 404`, `respond "still not scim" 404`, 1),
	}
	for i := 0; i < 6; i++ {
		time.Sleep(150 * time.Millisecond)
		in.load(variants[i%len(variants)])
	}
	time.Sleep(150 * time.Millisecond)
	close(stop)
	wg.Wait()
	failures.Range(func(k, v any) bool {
		t.Errorf("%s failed: %s", k, v)
		return true
	})
	if created.Load() < 20 {
		t.Errorf("only %d creates went through during the reloads", created.Load())
	}
	_, _, after := in.scim(t, "GET", "/scim/v2/acme/Users?count=0", token, "")
	if got := int(after["totalResults"].(float64)); got != base+int(created.Load()) {
		t.Errorf("%d users after %d acknowledged creates on top of %d", got, created.Load(), base)
	}
	t.Logf("%d creates, %d failures across 6 reloads", created.Load(), failed.Load())
}
