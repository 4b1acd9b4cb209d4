package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapter/store/postgres"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
	"github.com/caddy-scim/caddy-scim/caddymodule/console"
)

// postgresCaddyfile is pharosCaddyfile on the PostgreSQL engine, the DSN
// from the environment.
var postgresCaddyfile = strings.NewReplacer("storage_dir {STORAGE}",
	"storage postgres {env.SCIM_TEST_DSN} {\n\t\t\tmax_conns 8\n\t\t}\n\t\tstorage_dir {STORAGE}",
	"auto_https disable_redirects", "auto_https disable_redirects\n\tlog {\n\t\toutput file {STORAGE}/caddy.log\n\t}").Replace(pharosCaddyfile)

// TestPostgresEngine runs an Entra-shaped sync against the PostgreSQL
// engine: everything lands in the database (not in storage_dir), is
// delivered to the backend, survives a reload and a restart of Caddy, and
// a token revoked is refused at once.
func TestPostgresEngine(t *testing.T) {
	dsn := pgtest.Shared(t).CreateDatabase(t, "caddy_e2e")
	t.Setenv("SCIM_TEST_DSN", dsn)
	in := startCaddy(t, postgresCaddyfile)
	// pharos keeps its product store on this instance's disk: said at
	// start, since a second instance would hold another part of it.
	warned := logLines[struct {
		Level    string   `json:"level"`
		Backends []string `json:"backends"`
	}](t, in.storage+"/caddy.log", "built-in backends keep their product store on this instance's disk, not in PostgreSQL")
	if len(warned) != 1 || warned[0].Level != "warn" || !slices.Equal(warned[0].Backends, []string{"pharos"}) {
		t.Errorf("the warning about a built-in backend's local store: %+v", warned)
	}
	token := in.token(t, "print").Token
	ids := entraSync(t, in, "print", token)
	st := in.waitDelivered(t, "print")
	if st.Backend.Delivery.DeadLetters != 0 {
		t.Fatalf("dead letters: %+v", st.Backend.Delivery)
	}
	db := pgtest.Connect(t, dsn)
	var rows, journal int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM scim_resources WHERE tenant = 'print'`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM scim_journal WHERE tenant = 'print'`).Scan(&journal); err != nil {
		t.Fatal(err)
	}
	if rows != len(ids) || uint64(journal) != st.Backend.Delivery.Head {
		t.Fatalf("the database holds %d resources and %d journal entries; want %d and %d", rows, journal, len(ids), st.Backend.Delivery.Head)
	}
	var hashes int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM scim_tokens WHERE tenant = 'print' AND position($1 in record) = 0`, token).Scan(&hashes); err != nil || hashes != 1 {
		t.Fatalf("token rows without the token in them: %d, %v", hashes, err)
	}
	status, _, page := in.scim(t, "GET", `/scim/v2/print/Users?filter=userName+eq+%22ALICE@contoso.example%22`, token, "")
	if status != 200 || page["totalResults"] != json.Number("1") && page["totalResults"] != float64(1) {
		t.Fatalf("filter by userName: %d %v", status, page)
	}

	// A reload keeps the store and the token.
	in.load(strings.Replace(postgresCaddyfile, "max_conns 8", "max_conns 6", 1))
	if status, _, _ := in.scim(t, "GET", "/scim/v2/print/Users/"+ids["alice"], token, ""); status != 200 {
		t.Fatalf("after a reload: %d", status)
	}
	// A restart reads everything back from the database.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	in.load(postgresCaddyfile)
	in.waitServing(t)
	status, _, user := in.scim(t, "GET", "/scim/v2/print/Users/"+ids["alice"], token, "")
	if status != 200 || user["userName"] != "alice@contoso.example" {
		t.Fatalf("after a restart: %d %v", status, user)
	}
	in.adminJSON(t, "DELETE", "/scim/tenants/print/token", 200, nil)
	if status, _, _ := in.scim(t, "GET", "/scim/v2/print/Users", token, ""); status != 401 {
		t.Fatalf("a revoked token: %d", status)
	}
}

// TestPostgresSettingsRefused: storage settings that cannot work fail the
// config with a message that names the problem and never the DSN's
// password.
func TestPostgresSettingsRefused(t *testing.T) {
	t.Setenv("SCIM_EMPTY_DSN", "")
	for name, c := range map[string]struct {
		storage string
		want    string
	}{
		"no dsn":            {`{"engine": "postgres"}`, "needs a dsn"},
		"empty placeholder": {`{"engine": "postgres", "dsn": "{env.SCIM_EMPTY_DSN}"}`, "SCIM_EMPTY_DSN"},
		"unknown engine":    {`{"engine": "sqlite"}`, `unknown engine "sqlite"`},
		"badger with a dsn": {`{"engine": "badger", "dsn": "postgres://x"}`, "settings of the postgres engine"},
		"negative pool":     {`{"engine": "postgres", "dsn": "postgres://x", "max_conns": -1}`, "max_conns"},
		"unreachable":       {`{"engine": "postgres", "dsn": "postgres://scim:s3cret-pw@127.0.0.1:1/scim?connect_timeout=2"}`, "PostgreSQL"},
		"unparseable":       {`{"engine": "postgres", "dsn": "postgres://scim:s3cret-pw@[::1"}`, "cannot be parsed"},
	} {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			cfg := `{"admin": {"disabled": true}, "storage": {"module": "file_system", "root": "` + home + `"},
				"apps": {"scim": {"storage_dir": "` + home + `/scim", "storage": ` + c.storage + `},
				"http": {"servers": {"s": {"listen": ["127.0.0.1:0"], "routes": [{"handle": [{"handler": "scim", "tenants": {"acme": {}}}]}]}}}}}`
			err := caddy.Load([]byte(cfg), true)
			if err == nil {
				caddy.Stop()
				t.Fatal("the config loaded")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret-pw") {
				t.Fatalf("error %q: want it to mention %q and not the password", err, c.want)
			}
		})
	}
}

// TestPostgresChangesFromAnotherInstance: a running instance follows what
// another instance sharing the database does to runtime tenants and
// tokens, through notifications, within a second: a tenant enabled
// elsewhere is served, a token issued elsewhere is accepted, a token
// revoked elsewhere is refused although this instance has it cached, and
// a tenant disabled elsewhere stops being served.
func TestPostgresChangesFromAnotherInstance(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "caddy_other")
	t.Setenv("SCIM_TEST_DSN", dsn)
	in := startCaddy(t, strings.Replace(postgresCaddyfile, "\t\ttenant print {", "\t\truntime_tenants {\n\t\t}\n\t\ttenant print {", 1))
	other, err := postgres.Open(ctx, postgres.Options{DSN: dsn, Instance: "other", MaintenanceInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	reg, err := tenants.Load(ctx, other, nil)
	if err != nil {
		t.Fatal(err)
	}
	within := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a second", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	served := func(token string) func() bool {
		return func() bool {
			status, _, _, err := in.try("GET", "/scim/v2/acme/Users", token, "")
			return err == nil && status == 200
		}
	}
	if _, err := reg.Put(ctx, tenants.Record{Name: "acme", Profile: DefaultProfile}, nil); err != nil {
		t.Fatal(err)
	}
	mgr := tokens.NewManager(other, nil)
	issued, err := mgr.Issue(ctx, "acme", tokens.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	within("a tenant enabled and a token issued on another instance", served(issued.Token))
	// Cached here now; revoked there.
	if _, err := mgr.Revoke(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	within("a token revoked on another instance refused", func() bool { return !served(issued.Token)() })
	again, err := mgr.Issue(ctx, "acme", tokens.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	within("a new token", served(again.Token))
	if _, err := reg.Disable(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	within("a tenant disabled on another instance no longer served", func() bool {
		status, _, _, err := in.try("GET", "/scim/v2/acme/Users", again.Token, "")
		return err == nil && status == 404
	})

	// A change this instance has not heard of (written without a
	// notification, as if it were lost): enabling the tenant from the
	// record it holds is refused, and the change stays.
	rec, _ := reg.Get("acme")
	rec.RateLimit = &tenants.RateLimit{Requests: 7, Window: time.Second}
	b, _ := json.Marshal(rec)
	db := pgtest.Connect(t, dsn)
	if _, err := db.Exec(ctx, `UPDATE scim_tenants SET record = $1 WHERE name = 'acme'`, string(b)); err != nil {
		t.Fatal(err)
	}
	status, body := in.adminDo(t, "PUT", "/scim/tenants/acme", `{"profile":"default"}`)
	if status != 409 || !strings.Contains(string(body), "changed on another instance at the same time; nothing was saved") {
		t.Fatalf("enabling a tenant from an out-of-date record: %d %s", status, body)
	}
	// The console says so in words an admin can act on.
	svc := consoleService{app: activeApp}
	var invalid *console.InvalidError
	if err := svc.EnableTenant(ctx, "acme", DefaultProfile); !errors.As(err, &invalid) || !strings.Contains(invalid.Message, "Reload the page") {
		t.Fatalf("the console enabling a tenant from an out-of-date record: %v", err)
	}
	if stored, err := other.TenantRecord(ctx, "acme"); err != nil || !stored.Disabled || stored.RateLimit == nil || stored.RateLimit.Requests != 7 {
		t.Fatalf("the stored tenant after the refused changes: %+v, %v", stored, err)
	}
}
