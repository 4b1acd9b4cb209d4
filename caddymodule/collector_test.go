package caddymodule

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

const metricsCaddyfile = `{
	admin {ADMIN}
	storage file_system {STORAGE}/caddy
	local_certs
	skip_install_trust
	auto_https disable_redirects
	scim {
		storage_dir {STORAGE}
	}
}

{SITE} {
	scim {
		tenant acme
		tenant print {
			backend pharos
		}
	}
}
`

// scrape returns the value of each sample of the admin API's /metrics,
// keyed by name and labels as exposed.
func (in *instance) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + in.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?m)^(caddy_scim_\S+) (\S+)$`).FindAllStringSubmatch(string(b), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", m[0], err)
		}
		out[m[1]] = v
	}
	return out
}

// TestTenantMetrics checks that each tenant's token, request, delivery and
// restart series exist before any traffic, and that they move.
func TestTenantMetrics(t *testing.T) {
	in := startCaddy(t, metricsCaddyfile)
	got := in.scrape(t)
	for _, series := range []string{
		`caddy_scim_token_expiry_timestamp_seconds{tenant="acme"}`,
		`caddy_scim_token_expiry_timestamp_seconds{tenant="print"}`,
		`caddy_scim_last_request_timestamp_seconds{tenant="acme"}`,
		`caddy_scim_last_request_timestamp_seconds{tenant="print"}`,
		`caddy_scim_delivery_lag_events{tenant="print"}`,
		`caddy_scim_delivery_lag_seconds{tenant="print"}`,
		`caddy_scim_dead_letters{tenant="print"}`,
		`caddy_scim_backend_restarts_total{backend="pharos",tenant="print"}`,
	} {
		v, ok := got[series]
		if !ok {
			t.Errorf("no %s before any traffic", series)
		} else if v != 0 {
			t.Errorf("%s = %v before any traffic, want 0", series, v)
		}
	}
	for _, series := range []string{`caddy_scim_delivery_lag_events{tenant="acme"}`, `caddy_scim_dead_letters{tenant="acme"}`} {
		if _, ok := got[series]; ok {
			t.Errorf("%s reported for a tenant without a backend", series)
		}
	}

	creds := in.token(t, "print")
	before := time.Now().Unix()
	if status, _, body := in.scim(t, "POST", "/scim/v2/print/Users", creds.Token,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@contoso.example","emails":[{"value":"ada@contoso.example","type":"work","primary":true}]}`); status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	got = in.scrape(t)
	if v := got[`caddy_scim_token_expiry_timestamp_seconds{tenant="print"}`]; v != float64(creds.ExpiresAt.Unix()) {
		t.Errorf("token expiry %v, want %d", v, creds.ExpiresAt.Unix())
	}
	if v := got[`caddy_scim_last_request_timestamp_seconds{tenant="print"}`]; v < float64(before-1) {
		t.Errorf("last request %v after a request at %d", v, before)
	}
	if v := got[`caddy_scim_token_expiry_timestamp_seconds{tenant="acme"}`]; v != 0 {
		t.Errorf("acme, without a token: expiry %v", v)
	}

	pids := backendPIDs(t, "pharos")
	if len(pids) != 1 {
		t.Fatalf("%d pharos processes", len(pids))
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	const restarts = `caddy_scim_backend_restarts_total{backend="pharos",tenant="print"}`
	for deadline := time.Now().Add(20 * time.Second); in.scrape(t)[restarts] != 1; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s is %v after the process was killed, want 1", restarts, in.scrape(t)[restarts])
		}
	}
}
