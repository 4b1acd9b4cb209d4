package caddymodule

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/server/replaytest"
)

// The lifecycle tests replay whole IdP provisioning sessions through the
// real Caddy handler: over TLS, with a token generated through the admin
// API, to a tenant declared in a Caddyfile. Each file under
// testdata/lifecycles is one session, named after the IdP and its dialect.
// The engine's own replay fixtures (adapter/server/testdata/replay) share
// the format and run here too, so every recorded quirk is also checked
// behind Caddy's routing, authentication and HTTP/2.

// lifecycleSets are the fixture directories and the prefix that makes
// their tenant names unique.
var lifecycleSets = []struct{ group, dir, tenantPrefix string }{
	{"lifecycles", filepath.Join("testdata", "lifecycles"), ""},
	{"replay", filepath.Join("..", "adapter", "server", "testdata", "replay"), "replay-"},
}

type lifecycleFixture struct {
	group, tenant string
	fixture       *replaytest.Fixture
}

func loadLifecycles(t *testing.T) []lifecycleFixture {
	t.Helper()
	var out []lifecycleFixture
	for _, set := range lifecycleSets {
		for _, f := range replaytest.LoadDir(t, set.dir) {
			out = append(out, lifecycleFixture{group: set.group, tenant: set.tenantPrefix + f.Name, fixture: f})
		}
	}
	return out
}

// lifecycleCaddyfile declares one tenant per fixture, with no backend.
func lifecycleCaddyfile(fixtures []lifecycleFixture) string {
	var tenants strings.Builder
	for _, f := range fixtures {
		fmt.Fprintf(&tenants, "\t\ttenant %s\n", f.tenant)
	}
	return `{
	admin {ADMIN}
	storage file_system {STORAGE}/caddy
	local_certs
	skip_install_trust
	auto_https disable_redirects
	scim {
		storage_dir {STORAGE}
	}
	log {
		output file {STORAGE}/caddy.log
	}
}

{SITE} {
	scim {
		max_body_size 64KiB
` + tenants.String() + `	}
	respond "not scim" 404
}
`
}

func TestLifecycle(t *testing.T) {
	fixtures := loadLifecycles(t)
	in := startCaddy(t, lifecycleCaddyfile(fixtures))
	for _, f := range fixtures {
		t.Run(f.group+"/"+f.fixture.Name, func(t *testing.T) {
			creds := in.token(t, f.tenant)
			if want := "https://" + in.site + "/scim/v2/" + f.tenant; creds.TenantURL != want {
				t.Fatalf("tenant URL %q, want %q", creds.TenantURL, want)
			}
			replaytest.Run(t, replaytest.Target{Client: in.client, Base: creds.TenantURL, Token: creds.Token}, f.fixture)
		})
	}
}
