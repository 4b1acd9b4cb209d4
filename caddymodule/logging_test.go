package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// TestUnauthorizedLog pins what the log line of a 401 says: why the
// request was refused, as a stable code, and where it came from; never the
// token, nor its hash.
func TestUnauthorizedLog(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st, err := store.Open(store.Options{InMemory: true, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mgr := tokens.NewManager(st, func() time.Time { return clock })
	issue := func(tenant string, validity time.Duration) string {
		t.Helper()
		iss, err := mgr.Issue(ctx, tenant, tokens.IssueOptions{Validity: validity})
		if err != nil {
			t.Fatal(err)
		}
		return iss.Token
	}
	replaced := issue("acme", 0)
	_ = issue("acme", 0) // revokes replaced at once
	globex := issue("globex", 0)
	shortLived := issue("initech", time.Hour)

	sec, err := mgr.AddClientSecret(ctx, "initech")
	if err != nil {
		t.Fatal(err)
	}
	access := func() string {
		t.Helper()
		at, err := mgr.IssueAccessToken(ctx, "initech", sec.ClientID, sec.Secret, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return at.Token
	}
	expiredAccess := access()
	clock = clock.Add(2 * time.Hour) // shortLived and expiredAccess expire
	revokedAccess := access()
	if err := mgr.RevokeClientSecret(ctx, "initech", sec.SecretID); err != nil {
		t.Fatal(err)
	}
	secrets := []string{replaced, globex, shortLived, expiredAccess, revokedAccess, sec.Secret, "scim_not-a-real-token"}

	core, logs := observer.New(zap.DebugLevel)
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{
		Prefix:  "/scim/v2",
		Tenants: map[string]*Tenant{"acme": {}, "globex": {}, "initech": {}},
		logger:  zap.New(core),
		metrics: m,
		app:     startedApp(&shared{tokens: mgr}),
	}
	serveTenants(t, h)
	cases := []struct {
		name, tenant string
		headers      []string
		reason       string
		accessToken  bool
	}{
		{"no header", "acme", nil, "missing", false},
		{"empty header", "acme", []string{""}, "missing", false},
		{"basic", "acme", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("u:p"))}, "not_bearer", false},
		{"bearer without token", "acme", []string{"Bearer "}, "not_bearer", false},
		{"bare token", "acme", []string{globex}, "not_bearer", false},
		{"two headers", "acme", []string{"Bearer " + globex, "Bearer " + replaced}, "multiple_headers", false},
		{"unknown", "acme", []string{"Bearer scim_not-a-real-token"}, "invalid", false},
		{"another tenant's", "acme", []string{"Bearer " + globex}, "invalid", false},
		{"too long", "acme", []string{"Bearer " + strings.Repeat("x", 600)}, "invalid", false},
		{"replaced", "acme", []string{"Bearer " + replaced}, "revoked", false},
		{"expired", "initech", []string{"Bearer " + shortLived}, "expired", false},
		{"expired access token", "initech", []string{"Bearer " + expiredAccess}, "expired", true},
		{"access token of a revoked secret", "initech", []string{"Bearer " + revokedAccess}, "revoked", true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logs.TakeAll()
			r := httptest.NewRequest(http.MethodGet, "https://scim.example.com/scim/v2/"+c.tenant+"/Users", nil)
			r.RemoteAddr = fmt.Sprintf("203.0.113.7:%d", 40000+i)
			for _, v := range c.headers {
				r.Header.Add("Authorization", v)
			}
			// Caddy puts the client IP, as its trusted_proxies settle it,
			// in the request's vars.
			r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey,
				map[string]any{caddyhttp.ClientIPVarKey: "198.51.100.9"}))
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, nil); err != nil {
				t.Fatal(err)
			}
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", w.Code)
			}
			entries := logs.All()
			if len(entries) != 1 {
				t.Fatalf("%d log entries, want 1", len(entries))
			}
			e := entries[0]
			f := e.ContextMap()
			if e.Message != "scim request" || e.Level != zap.WarnLevel {
				t.Errorf("logged %q at %s", e.Message, e.Level)
			}
			if f["reason"] != c.reason {
				t.Errorf("reason %v, want %q", f["reason"], c.reason)
			}
			if f["remote_addr"] != r.RemoteAddr || f["client_ip"] != "198.51.100.9" {
				t.Errorf("remote_addr %v, client_ip %v", f["remote_addr"], f["client_ip"])
			}
			if got, _ := f["access_token"].(bool); got != c.accessToken {
				t.Errorf("access_token %v, want %v", f["access_token"], c.accessToken)
			}
			if f["tenant"] != c.tenant || f["status"] != int64(401) {
				t.Errorf("tenant %v, status %v", f["tenant"], f["status"])
			}
			assertNoSecret(t, e, secrets)
		})
	}
}

// TestUnauthorizedLogWithoutClientIP: outside Caddy's server (no vars),
// the line still carries the remote address.
func TestUnauthorizedLogWithoutClientIP(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{logger: zap.New(core), metrics: m}
	r := httptest.NewRequest(http.MethodGet, "https://scim.example.com/scim/v2/acme/Users", nil)
	r.RemoteAddr = "[2001:db8::1]:443"
	h.observe(r, "acme", operation(r.Method, "/acme/Users"), http.StatusUnauthorized, time.Now())
	f := logs.All()[0].ContextMap()
	if f["remote_addr"] != "[2001:db8::1]:443" {
		t.Errorf("remote_addr %v", f["remote_addr"])
	}
	if _, ok := f["client_ip"]; ok {
		t.Errorf("client_ip %v without Caddy's vars", f["client_ip"])
	}
}

// assertNoSecret fails when a captured entry holds any of the secrets, or
// their SHA-256 hash in hex or base64.
func assertNoSecret(t *testing.T, e observer.LoggedEntry, secrets []string) {
	t.Helper()
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	buf, err := enc.EncodeEntry(e.Entry, e.Context)
	if err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	for _, s := range secrets {
		sum := tokens.Hash(s)
		for _, needle := range []string{s, strings.TrimPrefix(s, "scim_"), hex.EncodeToString(sum),
			base64.StdEncoding.EncodeToString(sum), base64.RawURLEncoding.EncodeToString(sum)} {
			if strings.Contains(line, needle) {
				t.Errorf("the log line holds a secret or its hash: %s", line)
			}
		}
	}
}

const servingCaddyfile = `{
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
		format json
		level INFO
	}
}

{SITE} {
	scim {
		tenant print {
			backend pharos
		}
		tenant acme
TENANTS	}
	respond "not scim" 404
}
`

// servingLine is the start line as logged.
type servingLine struct {
	Level      string   `json:"level"`
	Msg        string   `json:"msg"`
	Tenants    int      `json:"tenants"`
	Static     int      `json:"static_tenants"`
	Runtime    int      `json:"runtime_tenants"`
	Storage    string   `json:"storage"`
	StorageDir string   `json:"storage_dir"`
	Prefixes   []string `json:"prefixes"`
	Backends   []struct {
		Name     string   `json:"name"`
		Version  string   `json:"version"`
		Tenants  []string `json:"tenants"`
		Runtime  int      `json:"runtime_tenants"`
		Profiles []string `json:"profiles"`
	} `json:"backends"`
}

// logLines returns the JSON log lines with message msg.
func logLines[T any](t *testing.T, path, msg string) []T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, `"msg":"`+msg+`"`) {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("log line %s: %v", l, err)
		}
		out = append(out, v)
	}
	return out
}

// TestServingLog starts Caddy, reloads it, and has a reload rejected: one
// "scim serving" line at the start and one after the successful reload,
// each saying what is served.
func TestServingLog(t *testing.T) {
	in := startCaddy(t, strings.Replace(servingCaddyfile, "TENANTS", "", 1))
	logFile := in.storage + "/caddy.log"

	lines := logLines[servingLine](t, logFile, "scim serving")
	if len(lines) != 1 {
		t.Fatalf("%d start lines, want 1", len(lines))
	}
	l := lines[0]
	if l.Level != "info" || l.Tenants != 2 || l.Storage != "badger" || l.StorageDir != in.storage ||
		strings.Join(l.Prefixes, ",") != "/scim/v2" {
		t.Errorf("start line %+v", l)
	}
	if len(l.Backends) != 2 || l.Backends[0].Name != "none" || strings.Join(l.Backends[0].Tenants, ",") != "acme" ||
		l.Backends[1].Name != "pharos" || l.Backends[1].Version == "" || strings.Join(l.Backends[1].Tenants, ",") != "print" {
		t.Errorf("backends %+v", l.Backends)
	}

	// Requests log no such line.
	in.scim(t, "GET", "/scim/v2/acme/Users", "", "")
	if n := len(logLines[servingLine](t, logFile, "scim serving")); n != 1 {
		t.Fatalf("%d start lines after a request, want 1", n)
	}

	in.load(strings.Replace(servingCaddyfile, "TENANTS", "\t\ttenant globex\n\t\ttenant initech\n", 1))
	lines = logLines[servingLine](t, logFile, "scim serving")
	if len(lines) != 2 {
		t.Fatalf("%d start lines after a reload, want 2", len(lines))
	}
	if l := lines[1]; l.Tenants != 4 || len(l.Backends) != 2 || strings.Join(l.Backends[0].Tenants, ",") != "acme,globex,initech" {
		t.Errorf("line after the reload %+v", l)
	}

	// A rejected reload logs no line: the running config still serves.
	body := strings.NewReplacer("{ADMIN}", in.admin, "{SITE}", in.site, "{STORAGE}", in.storage).
		Replace(strings.Replace(servingCaddyfile, "TENANTS", "\t\ttenant bad {\n\t\t\tbackend exec "+in.storage+"/no-such-plugin\n\t\t}\n", 1))
	if err := loadCaddyfile(body); err == nil {
		t.Fatal("a reload with a missing plugin binary was accepted")
	}
	if n := len(logLines[servingLine](t, logFile, "scim serving")); n != 2 {
		t.Fatalf("%d start lines after a rejected reload, want 2", n)
	}

	// A 401 in the real server carries the reason and the client's
	// address as Caddy saw it.
	in.scim(t, "GET", "/scim/v2/acme/Users", "scim_not-a-real-token", "")
	type requestLine struct {
		Status     int    `json:"status"`
		Reason     string `json:"reason"`
		RemoteAddr string `json:"remote_addr"`
		ClientIP   string `json:"client_ip"`
	}
	var got []requestLine
	for _, r := range logLines[requestLine](t, logFile, "scim request") {
		if r.Status == http.StatusUnauthorized {
			got = append(got, r)
		}
	}
	if len(got) != 2 || got[0].Reason != "missing" || got[1].Reason != "invalid" ||
		!strings.HasPrefix(got[1].RemoteAddr, "127.0.0.1:") || got[1].ClientIP != "127.0.0.1" {
		t.Errorf("401 lines %+v", got)
	}
	if b, _ := os.ReadFile(logFile); strings.Contains(string(b), "not-a-real-token") {
		t.Error("the log holds the presented token")
	}
}

// loadCaddyfile adapts and loads a Caddyfile, returning the error of a
// rejected load.
func loadCaddyfile(body string) error {
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(body), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return err
	}
	return caddy.Load(cfg, true)
}
