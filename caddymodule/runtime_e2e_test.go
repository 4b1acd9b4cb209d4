package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

const runtimeCaddyfile = `{
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
	scim {
		tenant acme {
			backend pharos
		}
		runtime_tenants {
			backend pharos {
				cards_on_deactivate keep
			}
			rotation_overlap 1h
		}
		runtime_tenants awareness {
			backend keepnet
		}
	}
}
`

// adminDo sends an admin API request with a body and headers, and returns
// the status and the body.
func (in *instance) adminDo(t *testing.T, method, path, body string, header ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, "http://"+in.admin+path, rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (in *instance) putTenant(t *testing.T, name, body string, want int) TenantStatus {
	t.Helper()
	status, b := in.adminDo(t, "PUT", "/scim/tenants/"+name, body)
	if status != want {
		t.Fatalf("PUT tenant %s: %d, want %d: %s", name, status, want, b)
	}
	var st TenantStatus
	if want < 300 {
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("PUT tenant %s: %v: %s", name, err, b)
		}
	}
	return st
}

// restart stops Caddy, which closes the store and stops the backends, and
// starts it again from the same Caddyfile and storage.
func (in *instance) restart(t *testing.T) {
	t.Helper()
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	in.load(in.caddyfile)
	in.waitServing(t)
}

func userBody(name string) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"emails":[{"value":%q,"type":"work","primary":true}],"active":true}`, name, name)
}

// TestRuntimeTenantLifecycle enables, uses, disables, restores and purges
// runtime tenants through the admin API and the CLI, over TLS, across a
// restart; one backend process serves every tenant of a backend.
func TestRuntimeTenantLifecycle(t *testing.T) {
	in := startCaddy(t, runtimeCaddyfile)

	// Enable two runtime tenants of the default profile and one of the
	// awareness profile.
	st := in.putTenant(t, "print1", `{}`, http.StatusCreated)
	if st.Kind != KindRuntime || !st.Enabled || st.Runtime == nil || st.Runtime.Profile != "default" || st.TenantURL != "https://"+in.site+"/scim/v2/print1" {
		t.Fatalf("created: %+v", st)
	}
	in.putTenant(t, "print2", `{"settings":{"cards_on_delete":"keep"},"token_validity":"30d"}`, http.StatusCreated)
	in.putTenant(t, "aware1", `{"profile":"awareness","settings":{"target_group":"All staff"}}`, http.StatusCreated)

	t.Run("refusals change nothing", func(t *testing.T) {
		cases := []struct {
			name, path, body string
			header           []string
			status           int
			says             string
		}{
			{"static name", "acme", `{}`, nil, 409, "declared in the config"},
			{"case twin", "PRINT1", `{}`, nil, 409, "only in case"},
			{"dot name", "..x", `{}`, nil, 400, "starting with a letter or a digit"},
			{"unknown profile", "p3", `{"profile":"nope"}`, nil, 400, `it has: awareness, default`},
			{"unknown field", "p3", `{"backend":"keepnet"}`, nil, 400, "unknown field"},
			{"settings not an object", "p3", `{"settings":[1]}`, nil, 400, "JSON object"},
			{"backend refuses settings", "p3", `{"settings":{"cards_on_delete":"shred"}}`, nil, 400, "accepted values: keep, remove"},
			{"bad rate limit", "p3", `{"rate_limit":{"requests":0,"window":"1s"}}`, nil, 400, "rate_limit"},
			{"negative validity", "p3", `{"token_validity":"-1h"}`, nil, 400, "negative"},
			{"add over existing", "print1", `{}`, []string{"If-None-Match", "*"}, 412, "already exists"},
			{"set of missing", "p3", `{}`, []string{"If-Match", "*"}, 412, "no runtime tenant"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				status, b := in.adminDo(t, "PUT", "/scim/tenants/"+c.path, c.body, c.header...)
				if status != c.status || !strings.Contains(string(b), c.says) {
					t.Fatalf("%d %s; want %d saying %q", status, b, c.status, c.says)
				}
			})
		}
		if status, b := in.adminDo(t, "GET", "/scim/tenants/p3", ""); status != 404 {
			t.Fatalf("a refused tenant exists: %d %s", status, b)
		}
		if st := in.status(t, "print2"); st.Runtime.TokenValidity != (30 * 24 * time.Hour).String() {
			t.Fatalf("print2 changed: %+v", st.Runtime)
		}
		if status, b := in.adminDo(t, "DELETE", "/scim/tenants/acme", ""); status != 409 || !strings.Contains(string(b), "declared in the config") {
			t.Fatalf("disabling a static tenant: %d %s", status, b)
		}
	})

	// Use them: tokens, writes, delivery to the backend.
	tok1 := in.token(t, "print1").Token
	tok2 := in.token(t, "print2").Token
	acme := in.token(t, "acme").Token
	if creds := in.token(t, "print2"); creds.ExpiresAt.Sub(time.Now()) > 31*24*time.Hour {
		t.Fatalf("print2's token_validity override is not applied: expires %v", creds.ExpiresAt)
	} else {
		tok2 = creds.Token
	}
	for tenant, token := range map[string]string{"print1": tok1, "print2": tok2, "acme": acme} {
		if status, _, body := in.scim(t, "POST", "/scim/v2/"+tenant+"/Users", token, userBody("jane@"+tenant+".example")); status != 201 {
			t.Fatalf("create in %s: %d %v", tenant, status, body)
		}
		in.waitDelivered(t, tenant)
	}
	if status, _, _ := in.scim(t, "GET", "/scim/v2/print2/Users", tok1, ""); status != 401 {
		t.Fatalf("print1's token on print2: %d", status)
	}
	var store1, store2 json.RawMessage
	in.inspect(t, "print1", &store1)
	in.inspect(t, "print2", &store2)
	if !bytes.Contains(store1, []byte("jane@print1.example")) || bytes.Contains(store1, []byte("jane@print2.example")) ||
		!bytes.Contains(store2, []byte("jane@print2.example")) || bytes.Contains(store2, []byte("jane@acme.example")) {
		t.Fatalf("product stores mix tenants:\nprint1 %s\nprint2 %s", store1, store2)
	}
	if n := len(backendPIDs(t, "pharos")); n != 1 {
		t.Fatalf("%d pharos processes serve 3 tenants; want 1", n)
	}
	if n := len(backendPIDs(t, "keepnet")); n != 1 {
		t.Fatalf("%d keepnet processes; want 1", n)
	}

	t.Run("disable", func(t *testing.T) {
		status, b := in.adminDo(t, "DELETE", "/scim/tenants/print1", "")
		if status != 200 {
			t.Fatalf("disable: %d %s", status, b)
		}
		if status, _, body := in.scim(t, "GET", "/scim/v2/print1/Users", tok1, ""); status != 404 {
			t.Fatalf("a disabled tenant answered %d %v", status, body)
		}
		st := in.status(t, "print1")
		if st.Enabled || !hasWarning(st, "disabled") || st.Runtime.DisabledAt == nil {
			t.Fatalf("disabled status: %+v", st)
		}
		if status, b := in.adminDo(t, "POST", "/scim/tenants/print1/token?regenerate=true", ""); status != 404 || !strings.Contains(string(b), "caddy scim tenant enable print1") {
			t.Fatalf("a token was generated for a disabled tenant: %d %s", status, b)
		}
	})

	in.restart(t)

	t.Run("after a restart", func(t *testing.T) {
		lines := logLines[servingLine](t, in.storage+"/caddy.log", "scim serving")
		l := lines[len(lines)-1]
		if l.Tenants != 3 || l.Static != 1 || l.Runtime != 2 || len(l.Backends) != 2 {
			t.Fatalf("start line after the restart: %+v", l)
		}
		for _, b := range l.Backends {
			switch b.Name {
			case "keepnet":
				if b.Runtime != 1 || strings.Join(b.Profiles, ",") != "awareness" || len(b.Tenants) != 0 || b.Version == "" {
					t.Errorf("keepnet in the start line: %+v", b)
				}
			case "pharos":
				if b.Runtime != 1 || strings.Join(b.Profiles, ",") != "default" || strings.Join(b.Tenants, ",") != "acme" {
					t.Errorf("pharos in the start line: %+v", b)
				}
			default:
				t.Errorf("backend %+v in the start line", b)
			}
		}
		if status, _, body := in.scim(t, "GET", "/scim/v2/print2/Users?filter="+urlQuery(`userName eq "jane@print2.example"`), tok2, ""); status != 200 || body["totalResults"] != float64(1) {
			t.Fatalf("print2 after the restart: %d %v", status, body)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/print1/Users", tok1, ""); status != 404 {
			t.Fatalf("print1 came back enabled after the restart: %d", status)
		}
		var all []TenantStatus
		in.adminJSON(t, "GET", "/scim/tenants", 200, &all)
		kinds := map[string]string{}
		for _, s := range all {
			kinds[s.Tenant] = fmt.Sprintf("%s/%v", s.Kind, s.Enabled)
		}
		want := map[string]string{"acme": "static/true", "aware1": "runtime/true", "print1": "runtime/false", "print2": "runtime/true"}
		if fmt.Sprint(kinds) != fmt.Sprint(want) {
			t.Fatalf("tenants after the restart: %v, want %v", kinds, want)
		}
		// Restore print1: its data and its token are as they were.
		st := in.putTenant(t, "print1", `{}`, http.StatusOK)
		if !st.Enabled || st.Runtime.DisabledAt != nil {
			t.Fatalf("restored: %+v", st)
		}
		if status, _, body := in.scim(t, "GET", "/scim/v2/print1/Users", tok1, ""); status != 200 || body["totalResults"] != float64(1) {
			t.Fatalf("print1 restored: %d %v", status, body)
		}
		if n := len(backendPIDs(t, "pharos")); n != 1 {
			t.Fatalf("%d pharos processes after the restart; want 1", n)
		}
	})

	t.Run("cli", func(t *testing.T) {
		admin := "--address=" + in.admin
		out := runCLI(t, tenantCommand(), "add", "cli1", "--setting", "cards_on_delete=keep", "--rate-limit", "5/1m", admin)
		if !strings.Contains(out, "Tenant cli1 is enabled") || !strings.Contains(out, "caddy scim token --tenant cli1") {
			t.Fatalf("add: %s", out)
		}
		if err := runCLIErr(tenantCommand(), "add", "cli1", admin); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("add twice: %v", err)
		}
		runCLI(t, tenantCommand(), "set", "cli1", "--token-validity", "7d", admin)
		st := in.status(t, "cli1")
		var settings map[string]string
		_ = json.Unmarshal(st.Runtime.Settings, &settings)
		if st.Runtime.TokenValidity != (7*24*time.Hour).String() || len(settings) != 1 || settings["cards_on_delete"] != "keep" || st.Runtime.RateLimit == nil || st.Runtime.RateLimit.Requests != 5 {
			t.Fatalf("set kept the other options? %+v", st.Runtime)
		}
		runCLI(t, tenantCommand(), "set", "cli1", "--unset", "cards_on_delete", admin)
		if st := in.status(t, "cli1"); len(st.Runtime.Settings) != 0 {
			t.Fatalf("unset: %s", st.Runtime.Settings)
		}
		if err := runCLIErr(tenantCommand(), "set", "nobody", admin); err == nil {
			t.Fatal("set of an unknown tenant succeeded")
		}
		runCLI(t, tenantCommand(), "disable", "cli1", admin)
		list := runCLI(t, tenantCommand(), "list", admin)
		for _, want := range []string{"acme", "static", "cli1", "runtime", "disabled", "print2", "awareness"} {
			if !strings.Contains(list, want) {
				t.Errorf("list lacks %q:\n%s", want, list)
			}
		}
		runCLI(t, tenantCommand(), "enable", "cli1", admin)
		if st := in.status(t, "cli1"); !st.Enabled {
			t.Fatalf("enable: %+v", st)
		}
		if err := runCLIErr(tenantCommand(), "purge", "cli1", admin); err == nil || !strings.Contains(err.Error(), "--confirm cli1") {
			t.Fatalf("purge without confirmation: %v", err)
		}
		if err := runCLIErr(tenantCommand(), "purge", "cli1", "--confirm", "cli2", admin); err == nil {
			t.Fatal("purge with the wrong name succeeded")
		}
		out = runCLI(t, tenantCommand(), "purge", "cli1", "--confirm", "cli1", admin)
		if !strings.Contains(out, "purged") {
			t.Fatalf("purge: %s", out)
		}
		if status, _ := in.adminDo(t, "GET", "/scim/tenants/cli1", ""); status != 404 {
			t.Fatalf("a purged tenant is still listed: %d", status)
		}
	})

	t.Run("purge", func(t *testing.T) {
		if status, b := in.adminDo(t, "DELETE", "/scim/tenants/print1?purge=true", ""); status != 400 || !strings.Contains(string(b), "confirm=print1") {
			t.Fatalf("purge without confirmation: %d %s", status, b)
		}
		if st := in.status(t, "print1"); !st.Enabled {
			t.Fatal("a refused purge disabled the tenant")
		}
		dataDir := filepath.Join(in.storage, "backends", "print1")
		if _, err := os.Stat(dataDir); err != nil {
			t.Fatalf("print1 has no backend data to purge: %v", err)
		}
		status, b := in.adminDo(t, "DELETE", "/scim/tenants/print1?purge=true&confirm=print1", "")
		var res PurgeResult
		if status != 200 || json.Unmarshal(b, &res) != nil || !res.Purged || res.BackendData != "deleted" {
			t.Fatalf("purge: %d %s", status, b)
		}
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			t.Fatalf("the backend's data directory is still there: %v", err)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/print1/Users", tok1, ""); status != 404 {
			t.Fatalf("a purged tenant answered %d", status)
		}
		// The name starts again from nothing: no users, the old token
		// refused, an empty product store.
		in.putTenant(t, "print1", `{}`, http.StatusCreated)
		if status, _, _ := in.scim(t, "GET", "/scim/v2/print1/Users", tok1, ""); status != 401 {
			t.Fatalf("the purged tenant's old token answered %d", status)
		}
		fresh := in.token(t, "print1").Token
		if status, _, body := in.scim(t, "GET", "/scim/v2/print1/Users", fresh, ""); status != 200 || body["totalResults"] != float64(0) {
			t.Fatalf("re-created tenant: %d %v", status, body)
		}
		var store json.RawMessage
		in.inspect(t, "print1", &store)
		if bytes.Contains(store, []byte("jane@print1.example")) {
			t.Fatalf("the backend kept the purged tenant's data: %s", store)
		}
		// The others are untouched.
		if status, _, body := in.scim(t, "GET", "/scim/v2/print2/Users", tok2, ""); status != 200 || body["totalResults"] != float64(1) {
			t.Fatalf("print2 after print1's purge: %d %v", status, body)
		}
	})

	t.Run("a static tenant named like a runtime one refuses the reload", func(t *testing.T) {
		body := strings.NewReplacer("{ADMIN}", in.admin, "{SITE}", in.site, "{STORAGE}", in.storage).Replace(
			strings.Replace(runtimeCaddyfile, "tenant acme {", "tenant print2 {\n\t\t\tbackend pharos\n\t\t}\n\t\ttenant acme {", 1))
		cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(body), map[string]any{"filename": "Caddyfile"})
		if err != nil {
			t.Fatal(err)
		}
		err = caddy.Load(cfg, true)
		if err == nil || !strings.Contains(err.Error(), "also exists as a runtime tenant") {
			t.Fatalf("reload: %v", err)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/print2/Users", tok2, ""); status != 200 {
			t.Fatalf("print2 after the rejected reload: %d", status)
		}
		if st := in.status(t, "print2"); st.Kind != KindRuntime || !st.Enabled {
			t.Fatalf("print2 after the rejected reload: %+v", st)
		}
	})
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22").Replace(s)
}
