package caddymodule

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/delivery"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

const rejectedReloadCaddyfile = `{
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
		EXTRA
	}
}
`

// adapt turns a Caddyfile of the instance into JSON.
func (in *instance) adapt(t *testing.T, caddyfile string) string {
	t.Helper()
	body := strings.NewReplacer("{ADMIN}", in.admin, "{SITE}", in.site, "{STORAGE}", in.storage).Replace(caddyfile)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(body), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	return string(cfg)
}

// TestRejectedReload loads configs Caddy rejects, each in its own way,
// and checks after each that the admin API, the CLI and the SCIM
// endpoints still serve the running config's tenants.
func TestRejectedReload(t *testing.T) {
	base := strings.Replace(rejectedReloadCaddyfile, "EXTRA", "", 1)
	in := startCaddy(t, base)
	acme := in.token(t, "acme")
	print := in.token(t, "print")
	baseJSON := in.adapt(t, base)

	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		json string
	}{
		{"Caddyfile mistake found at load",
			in.adapt(t, strings.Replace(rejectedReloadCaddyfile, "EXTRA", "public_url scim.example.com", 1))},
		{"unknown field in the scim app's JSON",
			strings.Replace(baseJSON, `"storage_dir":`, `"storage_dri":`, 1)},
		{"unknown field in the scim handler's JSON",
			strings.Replace(baseJSON, `"handler":"scim"`, `"handler":"scim","max_result":5`, 1)},
		{"missing exec backend binary",
			in.adapt(t, strings.Replace(rejectedReloadCaddyfile, "EXTRA", "tenant vendor {\n\t\t\tbackend exec "+filepath.Join(t.TempDir(), "no-such-plugin")+"\n\t\t}", 1))},
		{"storage directory that cannot be created",
			strings.Replace(baseJSON, `"storage_dir":"`+in.storage+`"`, `"storage_dir":"`+filepath.Join(notDir, "scim")+`"`, 1)},
		{"tenant served by two handlers",
			in.adapt(t, strings.Replace(rejectedReloadCaddyfile, "EXTRA", "}\n\t\tscim /other/* {\n\t\ttenant acme", 1))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.json == baseJSON {
				t.Fatal("the case does not change the config")
			}
			if err := caddy.Load([]byte(c.json), true); err == nil {
				t.Fatal("the config was accepted")
			} else {
				t.Logf("rejected: %v", err)
			}

			var list []TenantStatus
			in.adminJSON(t, "GET", "/scim/tenants", 200, &list)
			var names []string
			for _, st := range list {
				names = append(names, st.Tenant)
			}
			if strings.Join(names, ",") != "acme,print" {
				t.Fatalf("GET /scim/tenants lists %v, want acme and print", names)
			}
			if st := in.status(t, "print"); st.Backend == nil || st.Backend.Version == "" {
				t.Errorf("print's backend is not shown after the rejected reload: %+v", st.Backend)
			}
			out := runCLI(t, statusCommand(), "--tenant", "acme", "--address", in.admin)
			if !strings.Contains(out, "acme") {
				t.Errorf("caddy scim status --tenant acme: %s", out)
			}
			for tenant, tok := range map[string]string{"acme": acme.Token, "print": print.Token} {
				status, _, body := in.scim(t, "GET", "/scim/v2/"+tenant+"/Users", tok, "")
				if status != 200 {
					t.Errorf("GET %s/Users: %d %v", tenant, status, body)
				}
			}
		})
	}
}

// TestDetachRestoresRunningHost checks that when a rejected config's
// backend host for a tenant goes away, the running config's host is the
// tenant's host again.
func TestDetachRestoresRunningHost(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &shared{
		store:     st,
		deliverer: delivery.New(st, delivery.Options{Logger: zap.NewNop()}),
		hosts:     map[string][]*tenantBackend{},
	}
	running, rejected := &tenantBackend{tenant: "print"}, &tenantBackend{tenant: "print"}
	s.attach("print", running)
	s.attach("print", rejected)
	if s.host("print") != rejected {
		t.Fatal("the newest host is not the tenant's host")
	}
	s.detach("print", rejected)
	if s.host("print") != running {
		t.Fatal("the running config's host was not restored")
	}
	s.detach("print", running)
	if s.host("print") != nil {
		t.Fatal("a host remains after every host went away")
	}
}

// TestValidateHasNoSideEffects validates a config as "caddy validate"
// does: it creates no storage and starts no backend, and it succeeds
// from another process while a server runs with the same storage.
func TestValidateHasNoSideEffects(t *testing.T) {
	t.Run("nothing created or started", func(t *testing.T) {
		caddyStorage := t.TempDir()
		storage := filepath.Join(t.TempDir(), "not-yet")
		before := len(backendPIDs(t, "pharos"))
		body := strings.NewReplacer("{ADMIN}", "localhost:0", "{SITE}", "localhost:0",
			"storage_dir {STORAGE}", "storage_dir "+storage, "{STORAGE}", caddyStorage).Replace(pharosCaddyfile)
		cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(body), map[string]any{"filename": "Caddyfile"})
		if err != nil {
			t.Fatal(err)
		}
		var cfg *caddy.Config
		if err := caddy.StrictUnmarshalJSON(cfgJSON, &cfg); err != nil {
			t.Fatal(err)
		}
		if err := caddy.Validate(cfg); err != nil {
			t.Fatalf("validating: %v", err)
		}
		if _, err := os.Stat(storage); !os.IsNotExist(err) {
			t.Errorf("validating created the storage directory (stat: %v)", err)
		}
		if after := len(backendPIDs(t, "pharos")); after != before {
			t.Errorf("validating started backend processes: %d before, %d after", before, after)
		}
	})

	t.Run("while the server runs", func(t *testing.T) {
		in := startCaddy(t, pharosCaddyfile)
		file := filepath.Join(t.TempDir(), "caddy.json")
		if err := os.WriteFile(file, []byte(in.adapt(t, pharosCaddyfile)), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "validate-config", file)
		cmd.Env = os.Environ()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("validating while the server runs: %v\n%s", err, lastLines(out, 5))
		}
		var list []TenantStatus
		in.adminJSON(t, "GET", "/scim/tenants", 200, &list)
		if len(list) != 1 || list[0].Backend == nil || list[0].Backend.Version == "" {
			t.Errorf("the server's tenant after validation: %+v", list)
		}
	})

	t.Run("missing exec binary is still reported", func(t *testing.T) {
		storage := filepath.Join(t.TempDir(), "not-yet")
		body := strings.NewReplacer("{ADMIN}", "localhost:0", "{SITE}", "localhost:0", "{STORAGE}", storage,
			"backend pharos", "backend exec "+filepath.Join(storage, "no-such-plugin")).Replace(pharosCaddyfile)
		cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(body), map[string]any{"filename": "Caddyfile"})
		if err != nil {
			t.Fatal(err)
		}
		var cfg *caddy.Config
		if err := caddy.StrictUnmarshalJSON(cfgJSON, &cfg); err != nil {
			t.Fatal(err)
		}
		if err := caddy.Validate(cfg); err == nil || !strings.Contains(err.Error(), "no-such-plugin") {
			t.Errorf("validating a config with a missing exec binary: %v", err)
		}
	})
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startedApp is an App around s as if its config had started, for tests
// that serve requests without Caddy.
func startedApp(s *shared) *App {
	a := &App{shared: s, startMu: new(sync.Mutex), ready: new(atomic.Bool),
		reg: &registry{tenants: map[string]*registration{}, runtime: map[string]*registration{}, profiles: map[string]*profileReg{}}}
	a.ready.Store(true)
	return a
}

// serveTenants registers h's tenants with its app, as Provision does.
func serveTenants(t testing.TB, h *Handler) {
	t.Helper()
	for name, tn := range h.Tenants {
		if err := h.app.register(name, h, tn); err != nil {
			t.Fatal(err)
		}
	}
}
