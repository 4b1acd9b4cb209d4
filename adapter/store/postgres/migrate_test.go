package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// tables lists the scim_ tables of the database.
func tables(t *testing.T, conn *pgx.Conn) map[string]bool {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'scim_%'`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

func version(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	var v int
	if err := conn.QueryRow(context.Background(), `SELECT version FROM scim_schema WHERE id = 1`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

var wantTables = []string{"scim_schema", "scim_tenant_state", "scim_resources", "scim_unique", "scim_index", "scim_members",
	"scim_journal", "scim_delivery", "scim_dead_letters", "scim_tokens", "scim_clients", "scim_access_tokens",
	"scim_access", "scim_tenants", "scim_meta", "scim_leases", "scim_console", "scim_requests"}

func TestMigrationsAreNumberedWithoutGaps(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || SchemaVersion() != len(ms) {
		t.Fatalf("%d migrations, SchemaVersion %d", len(ms), SchemaVersion())
	}
	for i, m := range ms {
		if m.version != i+1 || m.sql == "" {
			t.Fatalf("migration %d: %+v", i, m)
		}
	}
}

// TestMigrateCreatesEverythingOnce: a fresh database gets every table and
// the current version; a second run finds nothing to do.
func TestMigrateCreatesEverythingOnce(t *testing.T) {
	ctx := context.Background()
	conn := pgtest.Connect(t, pgtest.Shared(t).CreateDatabase(t, "migrate"))
	from, err := Migrate(ctx, conn)
	if err != nil || from != 0 {
		t.Fatalf("first Migrate: from %d, %v", from, err)
	}
	got := tables(t, conn)
	for _, n := range wantTables {
		if !got[n] {
			t.Errorf("table %s missing after Migrate", n)
		}
	}
	if len(got) != len(wantTables) {
		t.Errorf("tables %v, want exactly %v", got, wantTables)
	}
	if v := version(t, conn); v != SchemaVersion() {
		t.Fatalf("schema version %d, want %d", v, SchemaVersion())
	}
	from, err = Migrate(ctx, conn)
	if err != nil || from != SchemaVersion() {
		t.Fatalf("second Migrate: from %d, %v", from, err)
	}
}

// TestMigrateFromManyInstancesAtOnce: instances starting together against
// an empty database all succeed and the migrations apply once.
func TestMigrateFromManyInstancesAtOnce(t *testing.T) {
	dsn := pgtest.Shared(t).CreateDatabase(t, "migrate_race")
	const n = 6
	conns := make([]*pgx.Conn, n)
	for i := range conns {
		conns[i] = pgtest.Connect(t, dsn)
	}
	froms := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			froms[i], errs[i] = Migrate(context.Background(), conns[i])
		}(i)
	}
	close(start)
	wg.Wait()
	applied := 0
	for i := range conns {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		if froms[i] == 0 {
			applied++
		}
	}
	if applied != 1 {
		t.Fatalf("%d instances applied the migrations, want exactly 1 (found versions %v)", applied, froms)
	}
	if v := version(t, conns[0]); v != SchemaVersion() {
		t.Fatalf("schema version %d", v)
	}
}

// TestMigrateRefusesANewerSchema: a database upgraded by a newer build is
// left alone, not written with an older layout.
func TestMigrateRefusesANewerSchema(t *testing.T) {
	ctx := context.Background()
	conn := pgtest.Connect(t, pgtest.Shared(t).CreateDatabase(t, "migrate_newer"))
	if _, err := Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	newer := SchemaVersion() + 1
	if _, err := conn.Exec(ctx, `UPDATE scim_schema SET version = $1`, newer); err != nil {
		t.Fatal(err)
	}
	from, err := Migrate(ctx, conn)
	if !errors.Is(err, ErrSchemaTooNew) || from != newer {
		t.Fatalf("Migrate on a newer schema: from %d, %v", from, err)
	}
	if v := version(t, conn); v != newer {
		t.Fatalf("the refused Migrate changed the version to %d", v)
	}
}
